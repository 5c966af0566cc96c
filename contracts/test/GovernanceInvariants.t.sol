// SPDX-License-Identifier: Apache-2.0
// GovernanceInvariants - the safety properties of issue 16 as forge invariants: only the owner changes
// an allow-list; no compose hash is allowed before its notice ends; a vetoed proposal never
// activates; a notice or guardian change itself waits out the notice; a guardian escape cannot be
// vetoed, never changes the period and lands only after twice the notice.
pragma solidity ^0.8.24;

import {Test} from "./utils/Test.sol";
import {Fixture} from "./Fixture.sol";
import {KeygateApp} from "../src/KeygateApp.sol";
import {KeygateKms} from "../src/KeygateKms.sol";

/// @notice Anyone but the owner (guardian included) calls every state-changing function of an
///         app and of the KMS contract, with random arguments, while time passes.
contract OutsiderHandler is Test {
    address internal constant OWNER = address(0xA11CE);
    KeygateApp public immutable app;
    KeygateKms public immutable kms;
    uint256 public calls;

    constructor(KeygateApp app_, KeygateKms kms_) {
        app = app_;
        kms = kms_;
    }

    function _actor(address who) internal pure returns (address) {
        return who == OWNER ? address(0xBAD) : who;
    }

    function appCall(address who, uint8 op, bytes32 v, bool flag, uint64 n) external {
        vm.startPrank(_actor(who));
        op = op % 17;
        bytes memory data;
        if (op == 0) data = abi.encodeCall(KeygateApp.addComposeHash, (v));
        else if (op == 1) data = abi.encodeCall(KeygateApp.removeComposeHash, (v));
        else if (op == 2) data = abi.encodeCall(KeygateApp.proposeComposeHash, (v));
        else if (op == 3) data = abi.encodeCall(KeygateApp.vetoComposeHash, (v));
        else if (op == 4) data = abi.encodeCall(KeygateApp.addDevice, (v));
        else if (op == 5) data = abi.encodeCall(KeygateApp.removeDevice, (v));
        else if (op == 6) data = abi.encodeCall(KeygateApp.setAllowAnyDevice, (flag));
        else if (op == 7) data = abi.encodeCall(KeygateApp.setRequireTcbUpToDate, (flag));
        else if (op == 8) data = abi.encodeCall(KeygateApp.setAdvisoryDenied, ("INTEL-SA-00837", flag));
        else if (op == 9) data = abi.encodeCall(KeygateApp.setAdvisoryAllowed, ("INTEL-SA-00837", flag));
        else if (op == 10) data = abi.encodeCall(KeygateApp.setOutOfDateGracePeriod, (n));
        else if (op == 11) data = abi.encodeCall(KeygateApp.setUpgradeNotice, (n, address(uint160(uint256(v)))));
        else if (op == 12) data = abi.encodeCall(KeygateApp.disableUpgrades, ());
        else if (op == 13) data = abi.encodeCall(app.transferOwnership, (address(uint160(uint256(v)))));
        else if (op == 14) data = abi.encodeCall(app.acceptOwnership, ());
        else if (op == 16) data = abi.encodeCall(KeygateApp.escapeGuardian, (address(uint160(uint256(v)))));
        else data = abi.encodeCall(app.upgradeToAndCall, (address(uint160(uint256(v))), ""));
        (bool ok,) = address(app).call(data);
        ok; // outcome is judged by the invariants, not here
        vm.stopPrank();
        calls++;
    }

    function kmsCall(address who, uint8 op, bytes32 v, uint64 n) external {
        vm.startPrank(_actor(who));
        op = op % 11;
        bytes memory data;
        if (op == 0) data = abi.encodeCall(KeygateKms.addOsImageHash, (v));
        else if (op == 1) data = abi.encodeCall(KeygateKms.removeOsImageHash, (v));
        else if (op == 2) data = abi.encodeCall(KeygateKms.addKmsAggregatedMr, (v));
        else if (op == 3) data = abi.encodeCall(KeygateKms.removeKmsAggregatedMr, (v));
        else if (op == 4) data = abi.encodeCall(KeygateKms.addKmsDevice, (v));
        else if (op == 5) data = abi.encodeCall(KeygateKms.removeKmsDevice, (v));
        else if (op == 6) data = abi.encodeCall(KeygateKms.proposeOsImageHash, (v));
        else if (op == 7) data = abi.encodeCall(KeygateKms.setGovernanceNotice, (n, address(uint160(uint256(v)))));
        else if (op == 8) data = abi.encodeCall(kms.transferOwnership, (address(uint160(uint256(v)))));
        else if (op == 10) data = abi.encodeCall(KeygateKms.escapeGuardian, (address(uint160(uint256(v)))));
        else data = abi.encodeCall(KeygateKms.vetoOsImageHash, (v));
        (bool ok,) = address(kms).call(data);
        ok;
        vm.stopPrank();
        calls++;
    }

    function wait(uint256 dt) external {
        vm.warp(block.timestamp + bound(dt, 0, 60 days));
    }
}

contract OutsiderInvariantTest is Fixture {
    OutsiderHandler internal handler;
    KeygateApp internal app;
    KeygateKms internal kms;

    function setUp() public {
        vm.warp(T0);
        app = _newApp(true, false, DEV1, H1);
        kms = _newKms(address(new KeygateApp()));
        vm.startPrank(OWNER);
        kms.addOsImageHash(OS1);
        kms.addKmsAggregatedMr(MR1);
        kms.addKmsDevice(DEV1);
        app.setAdvisoryAllowed("INTEL-SA-00615", true);
        vm.stopPrank();
        handler = new OutsiderHandler(app, kms);
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// @dev Nothing any non-owner did changed what the owner set up.
    function invariant_onlyOwnerChangesAllowLists() public view {
        assertTrue(app.allowedComposeHashes(H1), "H1 allowed");
        assertFalse(app.allowedComposeHashes(H2), "H2 not allowed");
        assertEq(uint256(app.composeHashState(H2)), 0, "H2 not pending");
        assertTrue(app.allowedDeviceIds(DEV1), "DEV1");
        assertFalse(app.allowedDeviceIds(DEV2), "DEV2");
        assertFalse(app.allowAnyDevice(), "any device");
        assertTrue(app.requireTcbUpToDate(), "tcb");
        assertFalse(app.advisoryDenied("INTEL-SA-00837"), "deny-list");
        assertTrue(app.advisoryAllowed("INTEL-SA-00615"), "allow-list");
        assertFalse(app.advisoryAllowed("INTEL-SA-00837"), "allow-list");
        assertEq(uint256(app.outOfDateGraceUntil()), 0, "grace");
        (uint64 p, address g) = app.upgradeNotice();
        assertEq(uint256(p), 0, "notice");
        assertEq(g, address(0), "guardian");
        assertFalse(app.upgradesDisabled(), "upgrades");
        assertEq(app.owner(), OWNER, "app owner");
        assertEq(app.pendingOwner(), address(0), "app pending owner");
        assertTrue(kms.allowedOsImages(OS1), "os image");
        assertFalse(kms.allowedOsImages(H2), "os image");
        assertTrue(kms.kmsAllowedAggregatedMrs(MR1), "mr");
        assertTrue(kms.kmsAllowedDeviceIds(DEV1), "kms device");
        assertEq(kms.owner(), OWNER, "kms owner");
        assertEq(kms.pendingOwner(), address(0), "kms pending owner");
        (p, g) = kms.governanceNotice();
        assertEq(uint256(p), 0, "kms notice");
        (address ng,) = app.pendingGuardianEscape();
        assertEq(ng, address(0), "app guardian escape");
        (ng,) = kms.pendingGuardianEscape();
        assertEq(ng, address(0), "kms guardian escape");
    }
}

/// @notice The owner proposes, removes, asks for notice changes (shorter, or another guardian)
///         and escapes the guardian; the guardian in force vetoes (and tries to veto escapes);
///         time passes. A model of what the rules allow is kept beside the contract.
contract NoticeRulesHandler is Test {
    address internal constant OWNER = address(0xA11CE);

    KeygateApp public immutable app;
    bytes32[4] internal _hashes;
    address[3] internal _guardians;

    // model of the notice in force, and of the pending change
    uint64 public noticePeriod;
    address public noticeGuardian;
    uint64 internal _pendingPeriod;
    address internal _pendingGuardian;
    uint64 public pendingAt; // 0: none
    bool public pendingEscape; // the pending change is a guardian escape
    uint64 public pendingProposedAt;
    uint256 public escapesLanded;

    mapping(bytes32 => uint64) public ghostActivatesAt; // 0: neither pending nor allowed
    mapping(bytes32 => uint64) public ghostProposedAt;
    mapping(bytes32 => uint64) public ghostNoticeAtProposal;
    mapping(bytes32 => bool) public ghostVetoed; // vetoed since its last proposal
    uint256 public violations; // an observed notice change earlier than the rules allow

    constructor(KeygateApp app_, uint64 period, address guardian) {
        app = app_;
        noticePeriod = period;
        noticeGuardian = guardian;
        _guardians = [guardian, address(0x6A4E), address(0x6A4F)];
        for (uint256 i = 0; i < 4; i++) {
            _hashes[i] = keccak256(abi.encode("rules hash", i));
        }
    }

    function hashAt(uint256 i) external view returns (bytes32) {
        return _hashes[i % 4];
    }

    /// @dev Folds a matured pending change into the model (the contract does it lazily too).
    function _settle() internal {
        if (pendingAt != 0 && block.timestamp >= pendingAt) {
            if (pendingEscape) escapesLanded++;
            noticePeriod = _pendingPeriod;
            noticeGuardian = _pendingGuardian;
            pendingAt = 0;
            pendingEscape = false;
        }
    }

    /// @dev The contract's notice must be the model's at every step.
    function _observe() internal {
        _settle();
        (uint64 p, address g) = app.upgradeNotice();
        if (p != noticePeriod || g != noticeGuardian) violations++;
    }

    function propose(uint256 i) external {
        _settle();
        bytes32 h = _hashes[i % 4];
        if (ghostActivatesAt[h] != 0 || noticePeriod == 0) return;
        vm.prank(OWNER);
        app.proposeComposeHash(h);
        ghostActivatesAt[h] = uint64(block.timestamp) + noticePeriod;
        ghostProposedAt[h] = uint64(block.timestamp);
        ghostNoticeAtProposal[h] = noticePeriod;
        ghostVetoed[h] = false;
        _observe();
    }

    function veto(uint256 i) external {
        _settle();
        bytes32 h = _hashes[i % 4];
        uint64 at = ghostActivatesAt[h];
        if (at == 0 || block.timestamp >= at || noticeGuardian == address(0)) return;
        vm.prank(noticeGuardian);
        app.vetoComposeHash(h);
        ghostActivatesAt[h] = 0;
        ghostVetoed[h] = true;
        _observe();
    }

    function remove(uint256 i) external {
        bytes32 h = _hashes[i % 4];
        vm.prank(OWNER);
        app.removeComposeHash(h);
        ghostActivatesAt[h] = 0;
        _observe();
    }

    /// @dev The owner asks for a shorter notice and/or another guardian.
    function changeNotice(uint64 period, uint256 g) external {
        _settle();
        if (noticePeriod == 0) return;
        period = uint64(bound(period, 0, noticePeriod));
        address guardian = _guardians[g % 3];
        vm.prank(OWNER);
        app.setUpgradeNotice(period, guardian);
        _pendingPeriod = period;
        _pendingGuardian = guardian;
        pendingAt = uint64(block.timestamp) + noticePeriod;
        pendingEscape = false;
        pendingProposedAt = uint64(block.timestamp);
        _observe();
    }

    /// @dev The owner replaces the guardian without its consent: same period, twice the notice.
    function escape(uint256 g) external {
        _settle();
        if (noticePeriod == 0 || noticeGuardian == address(0)) return;
        address guardian = _guardians[g % 3];
        vm.prank(OWNER);
        app.escapeGuardian(guardian);
        _pendingPeriod = noticePeriod;
        _pendingGuardian = guardian;
        pendingAt = uint64(block.timestamp) + 2 * noticePeriod;
        pendingEscape = true;
        pendingProposedAt = uint64(block.timestamp);
        _observe();
    }

    /// @dev The guardian vetoes a pending change; a veto of an escape must fail.
    function vetoNoticeChange() external {
        _settle();
        if (pendingAt == 0 || noticeGuardian == address(0)) return;
        vm.prank(noticeGuardian);
        (bool ok,) = address(app).call(abi.encodeCall(KeygateApp.vetoUpgradeNoticeChange, ()));
        if (pendingEscape) {
            if (ok) violations++; // the guardian stopped its own replacement
        } else {
            if (!ok) violations++;
            pendingAt = 0;
        }
        _observe();
    }

    function wait(uint256 dt) external {
        vm.warp(block.timestamp + bound(dt, 0, 20 days));
        _observe();
    }
}

contract NoticeRulesInvariantTest is Fixture {
    NoticeRulesHandler internal handler;

    function setUp() public {
        vm.warp(T0);
        handler = new NoticeRulesHandler(_newNoticeApp(NOTICE, GUARDIAN), NOTICE, GUARDIAN);
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// @dev Every allowed hash was proposed at least the notice in force at its proposal ago.
    function invariant_noComposeHashAllowedBeforeItsNotice() public view {
        KeygateApp app = handler.app();
        for (uint256 i = 0; i < 4; i++) {
            bytes32 h = handler.hashAt(i);
            if (!app.allowedComposeHashes(h)) continue;
            uint64 proposed = handler.ghostProposedAt(h);
            assertTrue(proposed != 0, "allowed without a proposal");
            assertTrue(
                block.timestamp >= proposed + handler.ghostNoticeAtProposal(h), "allowed before its notice ended"
            );
            assertEq(uint256(app.composeHashActivatesAt(h)), uint256(handler.ghostActivatesAt(h)), "activation time");
        }
    }

    /// @dev A vetoed proposal stays dead until it is proposed again (with a fresh notice).
    function invariant_vetoedProposalNeverActivates() public view {
        KeygateApp app = handler.app();
        for (uint256 i = 0; i < 4; i++) {
            bytes32 h = handler.hashAt(i);
            if (handler.ghostVetoed(h)) {
                assertEq(uint256(app.composeHashState(h)), 0, "vetoed hash pending or allowed");
            }
        }
    }

    /// @dev The notice and guardian in force are the model's: a change took effect only after
    ///      the notice in force when it was asked for, and never after a veto.
    function invariant_noticeChangeWaitsOutTheNotice() public view {
        assertEq(handler.violations(), 0, "notice changed earlier than the rules allow, or an escape was vetoed");
        (uint64 p, address g) = handler.app().upgradeNotice();
        uint64 at = handler.pendingAt();
        if (at != 0 && block.timestamp < at) {
            assertEq(uint256(p), uint256(handler.noticePeriod()), "pending change not yet in force");
            assertEq(g, handler.noticeGuardian(), "pending guardian not yet in force");
        }
    }

    /// @dev A pending escape keeps the period, lands at twice the notice in force when it was
    ///      asked for, and is what the contract reports as pending.
    function invariant_guardianEscapeKeepsPeriodAndWaitsTwice() public view {
        KeygateApp app = handler.app();
        (address ng, uint64 at) = app.pendingGuardianEscape();
        if (!handler.pendingEscape() || block.timestamp >= handler.pendingAt()) {
            assertEq(ng, address(0), "escape reported but none pending");
            return;
        }
        (uint64 p,) = app.upgradeNotice();
        assertEq(uint256(at), uint256(handler.pendingAt()), "escape time");
        assertEq(uint256(at), uint256(handler.pendingProposedAt()) + 2 * uint256(p), "twice the notice");
        (uint64 pp,,) = app.pendingUpgradeNotice();
        assertEq(uint256(pp), uint256(p), "escape keeps the period");
    }
}
