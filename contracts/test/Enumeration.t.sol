// SPDX-License-Identifier: Apache-2.0
// Enumeration - the allow-lists read from contract state (issue 17): each enumerable set equals its
// mapping after adds, proposals, vetoes and removals (in the middle too), pages are bounded, and
// entries made before the upgrade that introduced the sets are indexed on request.
pragma solidity ^0.8.24;

import {Test} from "./utils/Test.sol";
import {Fixture} from "./Fixture.sol";
import {KeygateApp} from "../src/KeygateApp.sol";
import {KeygateKms} from "../src/KeygateKms.sol";

/// @dev Storage slots of the version-1 mappings (`forge inspect ... storageLayout`), written
///      directly to make a proxy look as one upgraded from a version without the sets.
uint256 constant APP_SLOT_COMPOSE_HASH_ACTIVATES_AT = 0;
uint256 constant APP_SLOT_ALLOWED_DEVICES = 1;
uint256 constant APP_SLOT_DENIED_ADVISORIES = 7;
uint256 constant APP_SLOT_ALLOWED_ADVISORIES = 8;
uint256 constant KMS_SLOT_REGISTERED_APPS = 5;
uint256 constant KMS_SLOT_ALLOWED_OS_IMAGES = 8;

abstract contract EnumerationChecks is Test {
    uint256 internal constant ALL = type(uint256).max;

    /// @dev The compose hash page equals the mapping over `domain`: each listed hash once, with
    ///      its activation time, and every hash with one listed.
    function _checkComposeHashes(KeygateApp app, bytes32[] memory domain) internal view {
        (bytes32[] memory hs, uint64[] memory at) = app.composeHashPage(0, ALL);
        assertEq(hs.length, at.length, "page arrays");
        assertEq(app.composeHashCount(), hs.length, "count = page");
        uint256 present = 0;
        for (uint256 i = 0; i < domain.length; ++i) {
            uint64 want = app.composeHashActivatesAt(domain[i]);
            uint256 seen = 0;
            for (uint256 k = 0; k < hs.length; ++k) {
                if (hs[k] == domain[i]) {
                    seen++;
                    assertEq(uint256(at[k]), uint256(want), "activation time");
                }
            }
            assertEq(seen, want != 0 ? 1 : 0, "listed iff in the mapping");
            if (want != 0) present++;
        }
        assertEq(hs.length, present, "nothing else listed");
    }

    function _checkDevices(KeygateApp app, bytes32[] memory domain) internal view {
        bytes32[] memory ds = app.allowedDevicePage(0, ALL);
        assertEq(app.allowedDeviceCount(), ds.length, "device count = page");
        uint256 present = 0;
        for (uint256 i = 0; i < domain.length; ++i) {
            bool want = app.allowedDeviceIds(domain[i]);
            assertEq(_count(ds, domain[i]), want ? 1 : 0, "device listed iff allowed");
            if (want) present++;
        }
        assertEq(ds.length, present, "no other device listed");
    }

    function _checkAdvisories(KeygateApp app, string[] memory domain) internal view {
        uint256 denied = app.deniedAdvisoryCount();
        uint256 allowed = app.allowedAdvisoryCount();
        uint256 wantDenied = 0;
        uint256 wantAllowed = 0;
        for (uint256 i = 0; i < domain.length; ++i) {
            bytes32 id = keccak256(bytes(domain[i]));
            uint256 seen = 0;
            for (uint256 k = 0; k < denied; ++k) {
                if (keccak256(bytes(app.deniedAdvisoryAt(k))) == id) seen++;
            }
            assertEq(seen, app.advisoryDenied(domain[i]) ? 1 : 0, "denied advisory listed iff denied");
            wantDenied += seen;
            seen = 0;
            for (uint256 k = 0; k < allowed; ++k) {
                if (keccak256(bytes(app.allowedAdvisoryAt(k))) == id) seen++;
            }
            assertEq(seen, app.advisoryAllowed(domain[i]) ? 1 : 0, "allowed advisory listed iff allowed");
            wantAllowed += seen;
        }
        assertEq(denied, wantDenied, "no other denied advisory");
        assertEq(allowed, wantAllowed, "no other allowed advisory");
    }

    /// @dev Each KMS list equals "added at once, or proposed and not vetoed" over `domain`.
    function _checkKmsLists(KeygateKms kms, bytes32[] memory domain) internal view {
        bytes32[] memory os = kms.osImagePage(0, ALL);
        bytes32[] memory mrs = kms.kmsAggregatedMrPage(0, ALL);
        bytes32[] memory devs = kms.kmsDevicePage(0, ALL);
        assertEq(kms.osImageCount(), os.length, "os count");
        assertEq(kms.kmsAggregatedMrCount(), mrs.length, "mr count");
        assertEq(kms.kmsDeviceCount(), devs.length, "device count");
        uint256[3] memory present;
        for (uint256 i = 0; i < domain.length; ++i) {
            bytes32 v = domain[i];
            bool inOs = kms.allowedOsImages(v) || kms.osImageHashActivatesAt(v) != 0;
            bool inMr = kms.kmsAllowedAggregatedMrs(v) || kms.kmsAggregatedMrActivatesAt(v) != 0;
            bool inDev = kms.kmsAllowedDeviceIds(v) || kms.kmsDeviceActivatesAt(v) != 0;
            assertEq(_count(os, v), inOs ? 1 : 0, "os image listed iff allowed or pending");
            assertEq(_count(mrs, v), inMr ? 1 : 0, "mr listed iff allowed or pending");
            assertEq(_count(devs, v), inDev ? 1 : 0, "kms device listed iff allowed or pending");
            if (inOs) present[0]++;
            if (inMr) present[1]++;
            if (inDev) present[2]++;
        }
        assertEq(os.length, present[0], "no other os image");
        assertEq(mrs.length, present[1], "no other mr");
        assertEq(devs.length, present[2], "no other kms device");
    }

    function _count(bytes32[] memory xs, bytes32 v) internal pure returns (uint256 n) {
        for (uint256 i = 0; i < xs.length; ++i) {
            if (xs[i] == v) n++;
        }
    }

    function _h(uint256 i) internal pure returns (bytes32) {
        return keccak256(abi.encode("enumeration value", i));
    }
}

contract AppEnumerationTest is Fixture, EnumerationChecks {
    function setUp() public {
        vm.warp(T0);
    }

    function _domain(uint256 n) internal pure returns (bytes32[] memory d) {
        d = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            d[i] = _h(i);
        }
    }

    function test_composeHashes_removalInTheMiddleMovesTheLast() public {
        KeygateApp app = _newApp(false, true, bytes32(0), bytes32(0));
        bytes32[] memory d = _domain(5);
        vm.startPrank(OWNER);
        for (uint256 i = 0; i < 5; ++i) {
            app.addComposeHash(d[i]);
        }
        app.addComposeHash(d[1]); // re-adding is a no-op for the list
        assertEq(app.composeHashCount(), 5, "five listed");
        app.removeComposeHash(d[2]);
        (bytes32[] memory hs, uint64[] memory at) = app.composeHashPage(0, ALL);
        assertEq(hs.length, 4, "four left");
        assertEq(hs[0], d[0], "0 stays");
        assertEq(hs[1], d[1], "1 stays");
        assertEq(hs[2], d[4], "the last moved into the gap");
        assertEq(hs[3], d[3], "3 stays");
        assertEq(uint256(at[2]), uint256(T0), "allowed since now");
        app.removeComposeHash(d[2]); // removing an absent hash changes nothing
        app.removeComposeHash(d[3]); // the last one
        app.addComposeHash(d[2]);
        vm.stopPrank();
        _checkComposeHashes(app, d);
        assertEq(app.composeHashCount(), 4, "d2 back, d3 gone");
    }

    function test_composeHashes_pendingListedUntilVetoedOrRemoved() public {
        KeygateApp app = _newNoticeApp(NOTICE, GUARDIAN); // H1 allowed at deployment
        vm.startPrank(OWNER);
        app.proposeComposeHash(H2);
        app.proposeComposeHash(_h(7));
        vm.stopPrank();
        (bytes32[] memory hs, uint64[] memory at) = app.composeHashPage(0, ALL);
        assertEq(hs.length, 3, "allowed + two pending");
        assertEq(hs[0], H1, "H1");
        assertEq(uint256(at[0]), uint256(T0), "H1 allowed");
        assertEq(hs[1], H2, "H2");
        assertEq(uint256(at[1]), uint256(T0 + NOTICE), "H2 pending until the notice ends");
        vm.prank(GUARDIAN);
        app.vetoComposeHash(H2);
        vm.prank(OWNER);
        app.removeComposeHash(H1);
        (hs,) = app.composeHashPage(0, ALL);
        assertEq(hs.length, 1, "only the other pending one");
        assertEq(hs[0], _h(7), "h7");
        vm.warp(T0 + NOTICE); // it activates without a transaction and stays listed
        assertEq(uint256(app.composeHashState(_h(7))), 2, "allowed now");
        bytes32[] memory d = new bytes32[](3);
        (d[0], d[1], d[2]) = (H1, H2, _h(7));
        _checkComposeHashes(app, d);
    }

    function test_pages_areBoundedAndNeverRevert() public {
        KeygateApp app = _newApp(false, true, bytes32(0), bytes32(0));
        bytes32[] memory d = _domain(5);
        vm.startPrank(OWNER);
        for (uint256 i = 0; i < 5; ++i) {
            app.addComposeHash(d[i]);
        }
        vm.stopPrank();
        (bytes32[] memory hs, uint64[] memory at) = app.composeHashPage(1, 2);
        assertEq(hs.length, 2, "two");
        assertEq(at.length, 2, "two times");
        assertEq(hs[0], d[1], "from offset 1");
        assertEq(hs[1], d[2], "to offset 2");
        (hs,) = app.composeHashPage(3, 10);
        assertEq(hs.length, 2, "fewer at the end");
        assertEq(hs[1], d[4], "the last");
        (hs,) = app.composeHashPage(5, 1);
        assertEq(hs.length, 0, "none at the end");
        (hs,) = app.composeHashPage(ALL, ALL);
        assertEq(hs.length, 0, "none far past it, no overflow");
        (hs,) = app.composeHashPage(2, ALL);
        assertEq(hs.length, 3, "a huge limit saturates");
        (hs,) = app.composeHashPage(0, 0);
        assertEq(hs.length, 0, "limit 0");
        assertEq(app.allowedDevicePage(ALL, 1).length, 0, "devices past the end");
    }

    function test_devices_listedWhileAllowed() public {
        KeygateApp app = _newApp(false, false, DEV1, H1);
        vm.startPrank(OWNER);
        app.addDevice(DEV2);
        app.addDevice(_h(1));
        app.addDevice(DEV2); // twice: listed once
        app.removeDevice(DEV2); // the middle one
        app.removeDevice(_h(9)); // never allowed: nothing changes
        vm.stopPrank();
        bytes32[] memory ds = app.allowedDevicePage(0, ALL);
        assertEq(ds.length, 2, "two devices");
        assertEq(ds[0], DEV1, "initial device");
        assertEq(ds[1], _h(1), "moved into the gap");
        bytes32[] memory d = new bytes32[](4);
        (d[0], d[1], d[2], d[3]) = (DEV1, DEV2, _h(1), _h(9));
        _checkDevices(app, d);
    }

    function test_advisories_bothListsFollowTheirSwitches() public {
        KeygateApp app = _newApp(true, true, bytes32(0), H1);
        vm.startPrank(OWNER);
        app.setAdvisoryDenied("INTEL-SA-00837", true);
        app.setAdvisoryDenied("INTEL-SA-00615", true);
        app.setAdvisoryDenied("INTEL-SA-00999", true);
        app.setAdvisoryDenied("INTEL-SA-00615", false); // the middle one
        app.setAdvisoryDenied("INTEL-SA-00615", false); // again: nothing changes
        app.setAdvisoryDenied("INTEL-SA-00837", true); // again: listed once
        app.setAdvisoryAllowed("INTEL-SA-00615", true);
        vm.stopPrank();
        assertEq(app.deniedAdvisoryCount(), 2, "two denied");
        assertEq(app.deniedAdvisoryAt(0), "INTEL-SA-00837", "first denied");
        assertEq(app.deniedAdvisoryAt(1), "INTEL-SA-00999", "moved into the gap");
        assertEq(app.allowedAdvisoryCount(), 1, "one allowed");
        assertEq(app.allowedAdvisoryAt(0), "INTEL-SA-00615", "allowed id");
        vm.expectRevert();
        app.deniedAdvisoryAt(2);
        string[] memory d = new string[](4);
        (d[0], d[1], d[2], d[3]) = ("INTEL-SA-00837", "INTEL-SA-00615", "INTEL-SA-00999", "INTEL-SA-00001");
        _checkAdvisories(app, d);
    }

    /// @dev A proxy upgraded from a version without the sets holds entries only in its
    ///      mappings; anyone can index them, and only what the mappings hold is indexed.
    function test_indexExistingEntries_indexesOnlyWhatTheMappingsHold() public {
        KeygateApp app = _newApp(false, false, DEV1, H1);
        bytes32 oldHash = _h(1);
        bytes32 oldDevice = _h(2);
        vm.store(address(app), keccak256(abi.encode(oldHash, APP_SLOT_COMPOSE_HASH_ACTIVATES_AT)), bytes32(uint256(T0)));
        vm.store(address(app), keccak256(abi.encode(oldDevice, APP_SLOT_ALLOWED_DEVICES)), bytes32(uint256(1)));
        bytes32 denied = keccak256(bytes("INTEL-SA-00837"));
        bytes32 allowed = keccak256(bytes("INTEL-SA-00615"));
        vm.store(address(app), keccak256(abi.encode(denied, APP_SLOT_DENIED_ADVISORIES)), bytes32(uint256(1)));
        vm.store(address(app), keccak256(abi.encode(allowed, APP_SLOT_ALLOWED_ADVISORIES)), bytes32(uint256(1)));
        assertTrue(app.allowedComposeHashes(oldHash), "the old hash decides");
        assertEq(app.composeHashCount(), 1, "but is not listed yet");

        bytes32[] memory hashes = new bytes32[](3);
        (hashes[0], hashes[1], hashes[2]) = (oldHash, _h(3), H1); // _h(3) never allowed, H1 already listed
        bytes32[] memory devices = new bytes32[](2);
        (devices[0], devices[1]) = (oldDevice, _h(4));
        string[] memory den = new string[](2);
        (den[0], den[1]) = ("INTEL-SA-00837", "INTEL-SA-00615"); // the second is allowed, not denied
        string[] memory alw = new string[](1);
        alw[0] = "INTEL-SA-00615";
        vm.prank(STRANGER);
        app.indexExistingEntries(hashes, devices, den, alw);
        vm.prank(STRANGER);
        app.indexExistingEntries(hashes, devices, den, alw); // twice: no duplicates

        assertEq(app.composeHashCount(), 2, "H1 and the old hash");
        assertEq(app.allowedDeviceCount(), 2, "DEV1 and the old device");
        assertEq(app.deniedAdvisoryCount(), 1, "one denied");
        assertEq(app.allowedAdvisoryCount(), 1, "one allowed");
        bytes32[] memory d = new bytes32[](4);
        (d[0], d[1], d[2], d[3]) = (H1, oldHash, _h(3), _h(4));
        _checkComposeHashes(app, d);
        (d[0], d[1]) = (DEV1, oldDevice);
        _checkDevices(app, d);
        _checkAdvisories(app, den);
        vm.prank(OWNER);
        app.removeComposeHash(oldHash); // an indexed old entry is removed like any other
        assertEq(app.composeHashCount(), 1, "removed");
    }

    /// @dev Any sequence of owner and guardian actions over a few values keeps every list equal
    ///      to its mapping (the invariant below explores longer sequences with time passing).
    function testFuzz_composeHashesMatchTheMapping(uint256 seed) public {
        KeygateApp app = _newApp(false, true, bytes32(0), bytes32(0));
        vm.prank(OWNER);
        app.setUpgradeNotice(0, GUARDIAN);
        bytes32[] memory d = _domain(4);
        for (uint256 step = 0; step < 24; ++step) {
            uint256 r = uint256(keccak256(abi.encode(seed, step)));
            bytes32 v = d[r % 4];
            uint256 op = (r >> 8) % 6;
            vm.startPrank(op == 3 ? GUARDIAN : OWNER);
            if (op == 0) {
                _try(address(app), abi.encodeCall(KeygateApp.addComposeHash, (v)));
            } else if (op == 1) {
                _try(address(app), abi.encodeCall(KeygateApp.removeComposeHash, (v)));
            } else if (op == 2) {
                _try(address(app), abi.encodeCall(KeygateApp.proposeComposeHash, (v)));
            } else if (op == 3) {
                _try(address(app), abi.encodeCall(KeygateApp.vetoComposeHash, (v)));
            } else if (op == 4) {
                _try(address(app), abi.encodeCall(KeygateApp.setUpgradeNotice, (uint64(r >> 16) % 3 days, GUARDIAN)));
            } else {
                vm.warp(block.timestamp + (r >> 16) % 2 days);
            }
            vm.stopPrank();
            _checkComposeHashes(app, d);
        }
    }

    function _try(address to, bytes memory data) internal {
        (bool ok,) = to.call(data);
        ok; // refused calls must leave the lists as they were: checked after each step
    }
}

contract KmsEnumerationTest is Fixture, EnumerationChecks {
    KeygateKms internal kms;

    function setUp() public {
        vm.warp(T0);
        kms = _newKms(address(new KeygateApp()));
    }

    function test_registeredApps_listedInRegistrationOrder() public {
        address a1 = address(0x1001);
        kms.registerApp(a1);
        address a2 = kms.deployAndRegisterApp(OWNER, false, true, true, bytes32(0), H1);
        address a3 = kms.deployAndRegisterAppWithNotice(OWNER, false, true, true, bytes32(0), H1, NOTICE, GUARDIAN);
        assertEq(kms.registeredAppCount(), 3, "three apps");
        address[] memory apps = kms.registeredAppPage(0, 10);
        assertEq(apps.length, 3, "page of three");
        assertEq(apps[0], a1, "registered by hand");
        assertEq(apps[1], a2, "factory");
        assertEq(apps[2], a3, "factory with notice");
        apps = kms.registeredAppPage(2, 1);
        assertEq(apps.length, 1, "one");
        assertEq(apps[0], a3, "from offset 2");
        assertEq(kms.registeredAppPage(3, 1).length, 0, "none at the end");
        assertEq(kms.registeredAppPage(ALL, ALL).length, 0, "none far past it");
    }

    function test_lists_followAddProposeVetoRemove() public {
        bytes32[] memory d = new bytes32[](5);
        for (uint256 i = 0; i < 5; ++i) {
            d[i] = _h(i);
        }
        vm.startPrank(OWNER);
        kms.addOsImageHash(d[0]);
        kms.addOsImageHash(d[1]);
        kms.addOsImageHash(d[2]);
        kms.removeOsImageHash(d[1]); // the middle one
        kms.addKmsAggregatedMr(d[0]);
        kms.addKmsDevice(d[0]);
        kms.setGovernanceNotice(NOTICE, GUARDIAN);
        kms.proposeOsImageHash(d[3]);
        kms.proposeOsImageHash(d[4]);
        kms.proposeKmsAggregatedMr(d[3]);
        kms.proposeKmsDevice(d[3]);
        vm.stopPrank();
        bytes32[] memory os = kms.osImagePage(0, ALL);
        assertEq(os.length, 4, "two added, two pending");
        assertEq(os[1], d[2], "the last moved into the gap");
        vm.startPrank(GUARDIAN);
        kms.vetoOsImageHash(d[4]);
        kms.vetoKmsDevice(d[3]);
        vm.stopPrank();
        assertEq(kms.osImageCount(), 3, "vetoed one gone");
        assertEq(kms.kmsAggregatedMrCount(), 2, "added + pending mr");
        assertEq(kms.kmsDeviceCount(), 1, "vetoed device gone");
        vm.prank(OWNER);
        kms.removeKmsAggregatedMr(d[3]); // pending, removed
        assertEq(kms.kmsAggregatedMrCount(), 1, "pending mr removed");
        _checkKmsLists(kms, d);
    }

    /// @dev A value both added at once and pending (a proposal outlived the notice's fall to
    ///      zero) stays listed when the proposal is vetoed: it is still allowed.
    function test_lists_vetoOfAProposalKeepsAValueAddedAtOnce() public {
        bytes32 v = _h(1);
        vm.startPrank(OWNER);
        kms.setGovernanceNotice(NOTICE, GUARDIAN);
        kms.setGovernanceNotice(0, GUARDIAN); // shorter: waits out the notice
        vm.warp(T0 + 1 days);
        kms.proposeOsImageHash(v); // activates at T0 + 8 days
        vm.warp(T0 + NOTICE); // notice 0 now in force, the proposal still pending
        kms.addOsImageHash(v);
        vm.stopPrank();
        vm.prank(GUARDIAN);
        kms.vetoOsImageHash(v);
        assertTrue(kms.allowedOsImages(v), "still allowed: it was added at once");
        assertEq(kms.osImageCount(), 1, "still listed");
        bytes32[] memory d = new bytes32[](1);
        d[0] = v;
        _checkKmsLists(kms, d);
    }

    function test_indexExistingEntries_indexesOnlyWhatTheMappingsHold() public {
        address oldApp = address(0x0123);
        bytes32 oldImage = _h(1);
        vm.store(address(kms), keccak256(abi.encode(oldApp, KMS_SLOT_REGISTERED_APPS)), bytes32(uint256(1)));
        vm.store(address(kms), keccak256(abi.encode(oldImage, KMS_SLOT_ALLOWED_OS_IMAGES)), bytes32(uint256(1)));
        assertTrue(kms.registeredApps(oldApp), "registered in the mapping");
        assertTrue(kms.allowedOsImages(oldImage), "allowed in the mapping");
        assertEq(kms.registeredAppCount(), 0, "not listed yet");
        address[] memory apps = new address[](2);
        (apps[0], apps[1]) = (oldApp, address(0x0456)); // the second was never registered
        bytes32[] memory images = new bytes32[](2);
        (images[0], images[1]) = (oldImage, _h(2));
        vm.prank(STRANGER);
        kms.indexExistingEntries(apps, images, images, images);
        vm.prank(STRANGER);
        kms.indexExistingEntries(apps, images, images, images); // twice: no duplicates
        assertEq(kms.registeredAppCount(), 1, "the old app");
        assertEq(kms.registeredAppPage(0, 1)[0], oldApp, "listed");
        _checkKmsLists(kms, images);
        assertEq(kms.kmsAggregatedMrCount(), 0, "not an mr");
    }
}

/// @notice The owner and the guardian act on an app and the KMS contract over a few values,
///         with random notice periods and time passing; refused calls are part of the run.
contract EnumerationHandler is Test {
    address internal constant OWNER = address(0xA11CE);
    address internal constant GUARDIAN = address(0x6A4D);
    KeygateApp public immutable app;
    KeygateKms public immutable kms;

    constructor(KeygateApp app_, KeygateKms kms_) {
        app = app_;
        kms = kms_;
    }

    function value(uint256 i) public pure returns (bytes32) {
        return keccak256(abi.encode("enumeration value", i % 4));
    }

    function advisory(uint256 i) public pure returns (string memory) {
        string[3] memory ids = ["INTEL-SA-00837", "INTEL-SA-00615", "INTEL-SA-00999"];
        return ids[i % 3];
    }

    function appCall(uint8 op, uint256 i, bool flag, uint64 n) external {
        bytes32 v = value(i);
        op = op % 10;
        vm.startPrank(op == 3 ? GUARDIAN : OWNER);
        bytes memory data;
        if (op == 0) data = abi.encodeCall(KeygateApp.addComposeHash, (v));
        else if (op == 1) data = abi.encodeCall(KeygateApp.removeComposeHash, (v));
        else if (op == 2) data = abi.encodeCall(KeygateApp.proposeComposeHash, (v));
        else if (op == 3) data = abi.encodeCall(KeygateApp.vetoComposeHash, (v));
        else if (op == 4) data = abi.encodeCall(KeygateApp.addDevice, (v));
        else if (op == 5) data = abi.encodeCall(KeygateApp.removeDevice, (v));
        else if (op == 6) data = abi.encodeCall(KeygateApp.setAdvisoryDenied, (advisory(i), flag));
        else if (op == 7) data = abi.encodeCall(KeygateApp.setAdvisoryAllowed, (advisory(i), flag));
        else data = abi.encodeCall(KeygateApp.setUpgradeNotice, (n % 3 days, GUARDIAN));
        (bool ok,) = address(app).call(data);
        ok;
        vm.stopPrank();
    }

    function kmsCall(uint8 op, uint256 i, uint64 n) external {
        bytes32 v = value(i);
        op = op % 13;
        vm.startPrank(op >= 9 && op <= 11 ? GUARDIAN : OWNER);
        bytes memory data;
        if (op == 0) data = abi.encodeCall(KeygateKms.addOsImageHash, (v));
        else if (op == 1) data = abi.encodeCall(KeygateKms.removeOsImageHash, (v));
        else if (op == 2) data = abi.encodeCall(KeygateKms.proposeOsImageHash, (v));
        else if (op == 3) data = abi.encodeCall(KeygateKms.addKmsAggregatedMr, (v));
        else if (op == 4) data = abi.encodeCall(KeygateKms.removeKmsAggregatedMr, (v));
        else if (op == 5) data = abi.encodeCall(KeygateKms.proposeKmsAggregatedMr, (v));
        else if (op == 6) data = abi.encodeCall(KeygateKms.addKmsDevice, (v));
        else if (op == 7) data = abi.encodeCall(KeygateKms.removeKmsDevice, (v));
        else if (op == 8) data = abi.encodeCall(KeygateKms.proposeKmsDevice, (v));
        else if (op == 9) data = abi.encodeCall(KeygateKms.vetoOsImageHash, (v));
        else if (op == 10) data = abi.encodeCall(KeygateKms.vetoKmsAggregatedMr, (v));
        else if (op == 11) data = abi.encodeCall(KeygateKms.vetoKmsDevice, (v));
        else data = abi.encodeCall(KeygateKms.setGovernanceNotice, (n % 3 days, GUARDIAN));
        (bool ok,) = address(kms).call(data);
        ok;
        vm.stopPrank();
    }

    function wait(uint256 dt) external {
        vm.warp(block.timestamp + bound(dt, 0, 4 days));
    }
}

contract EnumerationInvariantTest is Fixture, EnumerationChecks {
    EnumerationHandler internal handler;
    KeygateApp internal app;
    KeygateKms internal kms;

    function setUp() public {
        vm.warp(T0);
        app = _newNoticeApp(0, GUARDIAN);
        kms = _newKms(address(new KeygateApp()));
        handler = new EnumerationHandler(app, kms);
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function _values() internal view returns (bytes32[] memory d) {
        d = new bytes32[](5);
        for (uint256 i = 0; i < 4; ++i) {
            d[i] = handler.value(i);
        }
        d[4] = H1; // the app's initial hash
    }

    function invariant_appListsEqualTheirMappings() public view {
        bytes32[] memory d = _values();
        _checkComposeHashes(app, d);
        _checkDevices(app, d);
        string[] memory ids = new string[](3);
        for (uint256 i = 0; i < 3; ++i) {
            ids[i] = handler.advisory(i);
        }
        _checkAdvisories(app, ids);
    }

    function invariant_kmsListsEqualTheirMappings() public view {
        _checkKmsLists(kms, _values());
    }
}
