// SPDX-License-Identifier: Apache-2.0
// Fuzz.t - property tests: allow/remove sequences against a model, notice boundaries, access, decision order; invariants.
pragma solidity ^0.8.24;

import {OwnableUpgradeable} from "@openzeppelin/contracts-upgradeable/access/OwnableUpgradeable.sol";

import {Fixture} from "./Fixture.sol";
import {Test} from "./utils/Test.sol";
import {IAppAuth} from "../src/IAppAuth.sol";
import {KeygateApp} from "../src/KeygateApp.sol";
import {KeygateKms} from "../src/KeygateKms.sol";

contract AllowListFuzzTest is Fixture {
    uint256 internal constant SLOTS = 4;
    uint256 internal constant MAX_OPS = 48;

    function setUp() public {
        vm.warp(T0);
    }

    function _hash(bytes32 salt, uint256 i) internal pure returns (bytes32) {
        return keccak256(abi.encode(salt, "compose", i));
    }

    function _device(bytes32 salt, uint256 i) internal pure returns (bytes32) {
        return keccak256(abi.encode(salt, "device", i));
    }

    /// @dev Each op word: bits 0-1 = kind (add/remove hash, add/remove device), bits 8-9 = slot.
    ///      After every op the contract must agree with a plain boolean model, reason included.
    function testFuzz_allowRemoveSequence(uint256[] calldata ops, bytes32 salt) public {
        KeygateApp app = _newApp(false, false, bytes32(0), bytes32(0));
        bool[SLOTS] memory hashes;
        bool[SLOTS] memory devices;
        uint256 n = ops.length > MAX_OPS ? MAX_OPS : ops.length;
        for (uint256 k = 0; k < n; k++) {
            uint256 kind = ops[k] & 3;
            uint256 slot = (ops[k] >> 8) & 3;
            vm.startPrank(OWNER);
            if (kind == 0) {
                app.addComposeHash(_hash(salt, slot));
                hashes[slot] = true;
            } else if (kind == 1) {
                app.removeComposeHash(_hash(salt, slot));
                hashes[slot] = false;
            } else if (kind == 2) {
                app.addDevice(_device(salt, slot));
                devices[slot] = true;
            } else {
                app.removeDevice(_device(salt, slot));
                devices[slot] = false;
            }
            vm.stopPrank();
            for (uint256 i = 0; i < SLOTS; i++) {
                assertEq(app.allowedComposeHashes(_hash(salt, i)), hashes[i], "hash model");
                assertEq(app.allowedDeviceIds(_device(salt, i)), devices[i], "device model");
            }
        }
        for (uint256 i = 0; i < SLOTS; i++) {
            for (uint256 j = 0; j < SLOTS; j++) {
                (bool ok, string memory why) =
                    app.isAppAllowed(_boot(address(app), _hash(salt, i), _device(salt, j), "UpToDate"));
                if (!hashes[i]) _expectDecision(ok, why, false, "compose hash not allowed", "hash denied");
                else if (!devices[j]) _expectDecision(ok, why, false, "device not allowed", "device denied");
                else _expectDecision(ok, why, true, "", "allowed");
            }
        }
    }

    function testFuzz_noticeBoundary(uint64 period, uint64 elapsed) public {
        period = uint64(bound(period, 1, 365 days));
        elapsed = uint64(bound(elapsed, 0, 2 * uint256(365 days)));
        KeygateApp app = _newNoticeApp(period, GUARDIAN);
        vm.prank(OWNER);
        app.proposeComposeHash(H2);
        vm.warp(T0 + elapsed);
        (bool ok, string memory why) = app.isAppAllowed(_boot(address(app), H2, DEV1, "UpToDate"));
        if (elapsed >= period) {
            _expectDecision(ok, why, true, "", "allowed from activation on");
        } else {
            _expectDecision(ok, why, false, "compose hash pending: notice period not over", "pending before activation");
        }
    }

    function testFuzz_vetoWindow(uint64 period, uint64 elapsed) public {
        period = uint64(bound(period, 1, 365 days));
        elapsed = uint64(bound(elapsed, 0, 2 * uint256(365 days)));
        KeygateApp app = _newNoticeApp(period, GUARDIAN);
        vm.prank(OWNER);
        app.proposeComposeHash(H2);
        vm.warp(T0 + elapsed);
        if (elapsed < period) {
            vm.prank(GUARDIAN);
            app.vetoComposeHash(H2);
            assertFalse(app.allowedComposeHashes(H2), "vetoed hash never activates");
            vm.warp(T0 + uint256(period) * 2);
            assertFalse(app.allowedComposeHashes(H2), "still not allowed later");
        } else {
            vm.prank(GUARDIAN);
            vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppComposeHashNotPending.selector, H2));
            app.vetoComposeHash(H2);
        }
    }

    function testFuzz_strangerCannotChangePolicy(address caller, bytes32 value) public {
        vm.assume(caller != OWNER);
        KeygateApp app = _newApp(false, false, DEV1, H1);
        bytes memory err = abi.encodeWithSelector(OwnableUpgradeable.OwnableUnauthorizedAccount.selector, caller);
        vm.startPrank(caller);
        vm.expectRevert(err);
        app.addComposeHash(value);
        vm.expectRevert(err);
        app.removeComposeHash(H1);
        vm.expectRevert(err);
        app.addDevice(value);
        vm.expectRevert(err);
        app.removeDevice(DEV1);
        vm.expectRevert(err);
        app.setAllowAnyDevice(true);
        vm.expectRevert(err);
        app.setRequireTcbUpToDate(true);
        vm.expectRevert(err);
        app.disableUpgrades();
        vm.stopPrank();
        assertTrue(app.allowedComposeHashes(H1), "hash kept");
        assertTrue(app.allowedDeviceIds(DEV1), "device kept");
    }

    function testFuzz_tcbStatus(string calldata tcb) public {
        KeygateApp app = _newApp(true, true, bytes32(0), H1);
        (bool ok, string memory why) = app.isAppAllowed(_boot(address(app), H1, DEV1, tcb));
        if (keccak256(bytes(tcb)) == keccak256("UpToDate")) _expectDecision(ok, why, true, "", "UpToDate allowed");
        else _expectDecision(ok, why, false, "tcb status not up to date", "anything else denied");
    }

    /// @dev Every combination of KMS-level and app-level facts yields the reason of the first failing check.
    function testFuzz_kmsDecisionOrder(uint8 facts) public {
        bool registered = facts & 1 != 0;
        bool osOk = facts & 2 != 0;
        bool hashOk = facts & 4 != 0;
        bool deviceOk = facts & 8 != 0;
        appImpl = new KeygateApp();
        KeygateKms kms = _newKms(address(appImpl));
        address appId;
        if (registered) {
            appId = kms.deployAndRegisterApp(OWNER, false, false, false, deviceOk ? DEV1 : DEV2, hashOk ? H1 : H2);
        } else {
            appId = address(_newApp(false, false, deviceOk ? DEV1 : DEV2, hashOk ? H1 : H2));
        }
        if (osOk) {
            vm.prank(OWNER);
            kms.addOsImageHash(OS1);
        }
        (bool ok, string memory why) = kms.isAppAllowed(_boot(appId, H1, DEV1, "UpToDate"));
        if (!registered) _expectDecision(ok, why, false, "app not registered", "registry first");
        else if (!osOk) _expectDecision(ok, why, false, "os image not allowed", "os image second");
        else if (!hashOk) _expectDecision(ok, why, false, "compose hash not allowed", "compose hash third");
        else if (!deviceOk) _expectDecision(ok, why, false, "device not allowed", "device fourth");
        else _expectDecision(ok, why, true, "", "all allowed");
    }
}

/// @notice Drives an app with a notice period through random proposals, vetoes, removals,
///         attempted shortcuts and the passage of time, keeping a model of activation times.
contract NoticeHandler is Test {
    address internal constant OWNER = address(0xA11CE);
    address internal constant GUARDIAN = address(0x6A4D);

    KeygateApp public immutable app;
    uint64 public immutable period;
    bytes32[4] internal _hashes;
    mapping(bytes32 => uint64) public ghostActivatesAt;
    uint256 public shortcutSucceeded; // count of owner calls that bypassed the notice

    constructor(KeygateApp app_, uint64 period_) {
        app = app_;
        period = period_;
        for (uint256 i = 0; i < 4; i++) {
            _hashes[i] = keccak256(abi.encode("invariant hash", i));
        }
    }

    function hashAt(uint256 i) external view returns (bytes32) {
        return _hashes[i % 4];
    }

    function propose(uint256 i) external {
        bytes32 h = _hashes[i % 4];
        if (ghostActivatesAt[h] != 0) return;
        vm.prank(OWNER);
        app.proposeComposeHash(h);
        ghostActivatesAt[h] = uint64(block.timestamp) + period;
    }

    function veto(uint256 i) external {
        bytes32 h = _hashes[i % 4];
        uint64 at = ghostActivatesAt[h];
        if (at == 0 || block.timestamp >= at) return;
        vm.prank(GUARDIAN);
        app.vetoComposeHash(h);
        ghostActivatesAt[h] = 0;
    }

    function remove(uint256 i) external {
        bytes32 h = _hashes[i % 4];
        vm.prank(OWNER);
        app.removeComposeHash(h);
        ghostActivatesAt[h] = 0;
    }

    function wait(uint256 dt) external {
        vm.warp(block.timestamp + bound(dt, 0, 2 * uint256(period)));
    }

    /// @dev The owner tries the immediate path and a notice reset; neither may take effect early.
    function tryShortcut(uint256 i) external {
        bytes32 h = _hashes[i % 4];
        vm.prank(OWNER);
        try app.addComposeHash(h) {
            shortcutSucceeded++;
        } catch {}
        vm.prank(OWNER);
        try app.setUpgradeNotice(0, OWNER) {} catch {}
        vm.prank(GUARDIAN);
        try app.vetoUpgradeNoticeChange() {} catch {}
    }
}

contract NoticeInvariantTest is Fixture {
    NoticeHandler internal handler;

    function setUp() public {
        vm.warp(T0);
        KeygateApp app = _newNoticeApp(NOTICE, GUARDIAN);
        handler = new NoticeHandler(app, NOTICE);
    }

    /// @dev forge's invariant runner reads this to call only the handler.
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function invariant_stateMatchesModel() public view {
        KeygateApp app = handler.app();
        for (uint256 i = 0; i < 4; i++) {
            bytes32 h = handler.hashAt(i);
            uint64 at = handler.ghostActivatesAt(h);
            assertEq(uint256(app.composeHashActivatesAt(h)), uint256(at), "activation time matches model");
            bool allowed = at != 0 && block.timestamp >= at;
            assertEq(app.allowedComposeHashes(h), allowed, "allowed only from activation on");
        }
    }

    function invariant_ownerNeverSkipsNotice() public view {
        assertEq(handler.shortcutSucceeded(), 0, "immediate add under notice");
        (uint64 p, address g) = handler.app().upgradeNotice();
        assertEq(uint256(p), NOTICE, "notice never shortened");
        assertEq(g, GUARDIAN, "guardian never replaced");
    }
}
