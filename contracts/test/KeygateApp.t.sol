// SPDX-License-Identifier: Apache-2.0
// KeygateApp.t - the app contract without a notice period: initialization, allow-lists, access, ownership, upgrades.
pragma solidity ^0.8.24;

import {ERC1967Proxy} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";
import {ERC1967Utils} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Utils.sol";
import {IERC1967} from "@openzeppelin/contracts/interfaces/IERC1967.sol";
import {OwnableUpgradeable} from "@openzeppelin/contracts-upgradeable/access/OwnableUpgradeable.sol";
import {Ownable2StepUpgradeable} from "@openzeppelin/contracts-upgradeable/access/Ownable2StepUpgradeable.sol";
import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts-upgradeable/proxy/utils/UUPSUpgradeable.sol";

import {Fixture} from "./Fixture.sol";
import {IAppAuth} from "../src/IAppAuth.sol";
import {IAppAuthBasicManagement} from "../src/IAppAuthBasicManagement.sol";
import {KeygateApp} from "../src/KeygateApp.sol";
import {KeygateAppV2, NotUpgradeable} from "./mocks/Mocks.sol";

contract KeygateAppTest is Fixture {
    KeygateApp internal app;

    function setUp() public {
        vm.warp(T0);
        app = _newApp(false, false, DEV1, H1);
    }

    function _unauthorized(address who) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(OwnableUpgradeable.OwnableUnauthorizedAccount.selector, who);
    }

    // ------------------------------------------------------------ initialization

    function test_initialize_setsPolicy() public view {
        assertEq(app.owner(), OWNER, "owner");
        assertEq(app.pendingOwner(), address(0), "no pending owner");
        assertTrue(app.allowedComposeHashes(H1), "initial compose hash allowed");
        assertEq(uint256(app.composeHashState(H1)), uint256(KeygateApp.ComposeHashState.Allowed), "state Allowed");
        assertEq(uint256(app.composeHashActivatesAt(H1)), T0, "activated at deployment");
        assertTrue(app.allowedDeviceIds(DEV1), "initial device allowed");
        assertFalse(app.allowedDeviceIds(DEV2), "other device not allowed");
        assertFalse(app.allowAnyDevice(), "device restriction on");
        assertFalse(app.requireTcbUpToDate(), "tcb not required");
        assertFalse(app.upgradesDisabled(), "upgrades enabled");
        assertEq(app.version(), 1, "version");
        (uint64 period, address g) = app.upgradeNotice();
        assertEq(uint256(period), 0, "no notice period");
        assertEq(g, address(0), "no guardian");
        assertEq(_implementationOf(address(app)), address(appImpl), "proxy points at implementation");
    }

    function test_initialize_dstackFiveArgumentForm() public {
        bytes memory init =
            abi.encodeWithSignature("initialize(address,bool,bool,bytes32,bytes32)", OWNER, true, true, bytes32(0), H2);
        KeygateApp a = KeygateApp(address(new ERC1967Proxy(address(appImpl), init)));
        assertTrue(a.upgradesDisabled(), "upgrades disabled");
        assertTrue(a.allowAnyDevice(), "any device");
        assertFalse(a.requireTcbUpToDate(), "tcb not required in the old form");
        assertTrue(a.allowedComposeHashes(H2), "compose hash");
        assertFalse(a.allowedDeviceIds(bytes32(0)), "zero device not added");
    }

    function test_initialize_zeroValuesAddNothing() public {
        KeygateApp a = _newApp(true, false, bytes32(0), bytes32(0));
        assertFalse(a.allowedComposeHashes(bytes32(0)), "zero hash not added");
        assertFalse(a.allowedDeviceIds(bytes32(0)), "zero device not added");
        assertTrue(a.requireTcbUpToDate(), "tcb required");
    }

    function test_initialize_emitsEventsInOrder() public {
        bytes memory init = abi.encodeWithSignature(
            "initialize(address,bool,bool,bool,bytes32,bytes32)", OWNER, true, true, true, DEV1, H1
        );
        // The proxy's address is not known before deployment: check topics and data, not the emitter.
        vm.expectEmit(true, true, true, true);
        emit KeygateApp.RequireTcbUpToDateSet(true);
        vm.expectEmit(true, true, true, true);
        emit KeygateApp.AllowAnyDeviceSet(true);
        vm.expectEmit(true, true, true, true);
        emit IAppAuthBasicManagement.DeviceAdded(DEV1);
        vm.expectEmit(true, true, true, true);
        emit KeygateApp.PolicyChanged(address(this), _policy("device"), DEV1, true);
        vm.expectEmit(true, true, true, true);
        emit IAppAuthBasicManagement.ComposeHashAdded(H1);
        vm.expectEmit(true, true, true, true);
        emit KeygateApp.PolicyChanged(address(this), _policy("compose-hash"), H1, true);
        vm.expectEmit(true, true, true, true);
        emit KeygateApp.UpgradesDisabled();
        new ERC1967Proxy(address(appImpl), init);
    }

    function test_initialize_revertsOnZeroOwner() public {
        bytes memory init = abi.encodeWithSignature(
            "initialize(address,bool,bool,bool,bytes32,bytes32)", address(0), false, false, false, DEV1, H1
        );
        vm.expectRevert(abi.encodeWithSelector(OwnableUpgradeable.OwnableInvalidOwner.selector, address(0)));
        new ERC1967Proxy(address(appImpl), init);
    }

    function test_initialize_revertsTwice() public {
        vm.expectRevert(Initializable.InvalidInitialization.selector);
        app.initialize(STRANGER, false, false, false, bytes32(0), H2);
        vm.expectRevert(Initializable.InvalidInitialization.selector);
        app.initialize(STRANGER, false, false, bytes32(0), H2);
        vm.expectRevert(Initializable.InvalidInitialization.selector);
        app.initializeWithNotice(STRANGER, false, false, false, bytes32(0), H2, 0, address(0));
        assertEq(app.owner(), OWNER, "owner unchanged");
    }

    function test_implementation_cannotBeInitialized() public {
        vm.expectRevert(Initializable.InvalidInitialization.selector);
        appImpl.initialize(STRANGER, false, false, false, bytes32(0), H2);
    }

    function test_initializeWithNotice_rejectsTooLongPeriod() public {
        uint64 tooLong = app.MAX_NOTICE_PERIOD() + 1;
        bytes memory init = abi.encodeCall(
            KeygateApp.initializeWithNotice, (OWNER, false, false, true, bytes32(0), H1, tooLong, GUARDIAN)
        );
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppNoticePeriodTooLong.selector, tooLong));
        new ERC1967Proxy(address(appImpl), init);
    }

    // ------------------------------------------------------------ isAppAllowed

    function test_isAppAllowed_allowsListedHashAndDevice() public view {
        _checkApp(app, _boot(address(app), H1, DEV1, "OutOfDate"), true, "");
    }

    function test_isAppAllowed_deniesOtherApp() public view {
        _checkApp(app, _boot(address(0xdead), H1, DEV1, "UpToDate"), false, "app id mismatch");
    }

    function test_isAppAllowed_deniesUnknownComposeHash() public view {
        _checkApp(app, _boot(address(app), H2, DEV1, "UpToDate"), false, "compose hash not allowed");
    }

    function test_isAppAllowed_deniesUnknownDevice() public view {
        _checkApp(app, _boot(address(app), H1, DEV2, "UpToDate"), false, "device not allowed");
    }

    function test_isAppAllowed_anyDeviceSkipsDeviceCheck() public {
        vm.prank(OWNER);
        app.setAllowAnyDevice(true);
        _checkApp(app, _boot(address(app), H1, DEV2, "UpToDate"), true, "");
    }

    function test_isAppAllowed_tcbRequirement() public {
        vm.prank(OWNER);
        app.setRequireTcbUpToDate(true);
        _checkApp(app, _boot(address(app), H1, DEV1, "OutOfDate"), false, "tcb status not up to date");
        _checkApp(app, _boot(address(app), H1, DEV1, "uptodate"), false, "tcb status not up to date");
        _checkApp(app, _boot(address(app), H1, DEV1, ""), false, "tcb status not up to date");
        _checkApp(app, _boot(address(app), H1, DEV1, "UpToDate"), true, "");
    }

    function test_isAppAllowed_checkOrder() public {
        vm.prank(OWNER);
        app.setRequireTcbUpToDate(true);
        // Everything wrong: the first failing check names the reason.
        _checkApp(app, _boot(address(app), H2, DEV2, "Revoked"), false, "tcb status not up to date");
        _checkApp(app, _boot(address(app), H2, DEV2, "UpToDate"), false, "compose hash not allowed");
        _checkApp(app, _boot(address(app), H1, DEV2, "UpToDate"), false, "device not allowed");
    }

    // ------------------------------------------------------------ compose hashes

    function test_addComposeHash_allowsAndEmits() public {
        vm.expectEmit(address(app));
        emit IAppAuthBasicManagement.ComposeHashAdded(H2);
        vm.expectEmit(address(app));
        emit KeygateApp.PolicyChanged(OWNER, _policy("compose-hash"), H2, true);
        vm.prank(OWNER);
        app.addComposeHash(H2);
        assertTrue(app.allowedComposeHashes(H2), "allowed");
        _checkApp(app, _boot(address(app), H2, DEV1, "UpToDate"), true, "");
    }

    function test_addComposeHash_readdIsHarmless() public {
        vm.prank(OWNER);
        app.addComposeHash(H1);
        assertTrue(app.allowedComposeHashes(H1), "still allowed");
    }

    function test_removeComposeHash_deniesAtOnceAndEmits() public {
        vm.expectEmit(address(app));
        emit IAppAuthBasicManagement.ComposeHashRemoved(H1);
        vm.expectEmit(address(app));
        emit KeygateApp.PolicyChanged(OWNER, _policy("compose-hash"), H1, false);
        vm.prank(OWNER);
        app.removeComposeHash(H1);
        assertFalse(app.allowedComposeHashes(H1), "removed");
        assertEq(uint256(app.composeHashActivatesAt(H1)), 0, "activation cleared");
        _checkApp(app, _boot(address(app), H1, DEV1, "UpToDate"), false, "compose hash not allowed");
    }

    function test_composeHash_onlyOwner() public {
        vm.startPrank(STRANGER);
        vm.expectRevert(_unauthorized(STRANGER));
        app.addComposeHash(H2);
        vm.expectRevert(_unauthorized(STRANGER));
        app.removeComposeHash(H1);
        vm.expectRevert(_unauthorized(STRANGER));
        app.proposeComposeHash(H2);
        vm.stopPrank();
        assertTrue(app.allowedComposeHashes(H1), "unchanged");
        assertFalse(app.allowedComposeHashes(H2), "unchanged");
    }

    // ------------------------------------------------------------ devices and switches

    function test_addRemoveDevice_andEvents() public {
        vm.expectEmit(address(app));
        emit IAppAuthBasicManagement.DeviceAdded(DEV2);
        vm.expectEmit(address(app));
        emit KeygateApp.PolicyChanged(OWNER, _policy("device"), DEV2, true);
        vm.prank(OWNER);
        app.addDevice(DEV2);
        assertTrue(app.allowedDeviceIds(DEV2), "added");
        _checkApp(app, _boot(address(app), H1, DEV2, "UpToDate"), true, "");

        vm.expectEmit(address(app));
        emit IAppAuthBasicManagement.DeviceRemoved(DEV2);
        vm.expectEmit(address(app));
        emit KeygateApp.PolicyChanged(OWNER, _policy("device"), DEV2, false);
        vm.prank(OWNER);
        app.removeDevice(DEV2);
        assertFalse(app.allowedDeviceIds(DEV2), "removed");
        _checkApp(app, _boot(address(app), H1, DEV2, "UpToDate"), false, "device not allowed");
    }

    function test_switches_andEvents() public {
        vm.expectEmit(address(app));
        emit KeygateApp.AllowAnyDeviceSet(true);
        vm.expectEmit(address(app));
        emit KeygateApp.PolicyChanged(OWNER, _policy("allow-any-device"), bytes32(0), true);
        vm.prank(OWNER);
        app.setAllowAnyDevice(true);
        assertTrue(app.allowAnyDevice(), "any device on");

        vm.expectEmit(address(app));
        emit KeygateApp.RequireTcbUpToDateSet(true);
        vm.expectEmit(address(app));
        emit KeygateApp.PolicyChanged(OWNER, _policy("require-tcb-up-to-date"), bytes32(0), true);
        vm.prank(OWNER);
        app.setRequireTcbUpToDate(true);
        assertTrue(app.requireTcbUpToDate(), "tcb on");

        vm.startPrank(OWNER);
        app.setAllowAnyDevice(false);
        app.setRequireTcbUpToDate(false);
        vm.stopPrank();
        assertFalse(app.allowAnyDevice(), "any device off");
        assertFalse(app.requireTcbUpToDate(), "tcb off");
    }

    function test_devicesAndSwitches_onlyOwner() public {
        vm.startPrank(STRANGER);
        vm.expectRevert(_unauthorized(STRANGER));
        app.addDevice(DEV2);
        vm.expectRevert(_unauthorized(STRANGER));
        app.removeDevice(DEV1);
        vm.expectRevert(_unauthorized(STRANGER));
        app.setAllowAnyDevice(true);
        vm.expectRevert(_unauthorized(STRANGER));
        app.setRequireTcbUpToDate(true);
        vm.expectRevert(_unauthorized(STRANGER));
        app.setUpgradeNotice(NOTICE, STRANGER);
        vm.expectRevert(_unauthorized(STRANGER));
        app.disableUpgrades();
        vm.expectRevert(_unauthorized(STRANGER));
        app.proposeUpgrade(address(appImpl));
        vm.stopPrank();
    }

    // ------------------------------------------------------------ ERC-165

    function test_supportsInterface() public view {
        assertTrue(app.supportsInterface(0x1e079198), "IAppAuth");
        assertTrue(app.supportsInterface(0x8fd37527), "IAppAuthBasicManagement");
        assertTrue(app.supportsInterface(0x01ffc9a7), "IERC165");
        assertFalse(app.supportsInterface(0xffffffff), "ERC-165 invalid id");
        assertFalse(app.supportsInterface(0x12345678), "unknown id");
    }

    // ------------------------------------------------------------ two-step ownership

    function test_ownership_twoStep() public {
        vm.expectEmit(address(app));
        emit Ownable2StepUpgradeable.OwnershipTransferStarted(OWNER, NEW_OWNER);
        vm.prank(OWNER);
        app.transferOwnership(NEW_OWNER);
        assertEq(app.owner(), OWNER, "old owner until accepted");
        assertEq(app.pendingOwner(), NEW_OWNER, "pending owner");

        vm.prank(STRANGER);
        vm.expectRevert(_unauthorized(STRANGER));
        app.acceptOwnership();

        vm.expectEmit(address(app));
        emit OwnableUpgradeable.OwnershipTransferred(OWNER, NEW_OWNER);
        vm.prank(NEW_OWNER);
        app.acceptOwnership();
        assertEq(app.owner(), NEW_OWNER, "new owner");
        assertEq(app.pendingOwner(), address(0), "pending cleared");

        vm.prank(OWNER);
        vm.expectRevert(_unauthorized(OWNER));
        app.addComposeHash(H2);
        vm.prank(NEW_OWNER);
        app.addComposeHash(H2);
        assertTrue(app.allowedComposeHashes(H2), "new owner governs");
    }

    function test_ownership_onlyOwnerCanStartTransfer() public {
        vm.prank(STRANGER);
        vm.expectRevert(_unauthorized(STRANGER));
        app.transferOwnership(STRANGER);
    }

    function test_renounceOwnership_freezesPolicy() public {
        vm.prank(OWNER);
        app.renounceOwnership();
        assertEq(app.owner(), address(0), "no owner");
        vm.prank(OWNER);
        vm.expectRevert(_unauthorized(OWNER));
        app.addComposeHash(H2);
        _checkApp(app, _boot(address(app), H1, DEV1, "UpToDate"), true, "");
    }

    // ------------------------------------------------------------ upgrades

    function _populate() internal {
        vm.startPrank(OWNER);
        app.addComposeHash(H2);
        app.addDevice(DEV2);
        app.setAllowAnyDevice(true);
        app.setRequireTcbUpToDate(true);
        app.transferOwnership(NEW_OWNER);
        vm.stopPrank();
    }

    function _assertPopulated(KeygateApp a) internal view {
        assertEq(a.owner(), OWNER, "owner kept");
        assertEq(a.pendingOwner(), NEW_OWNER, "pending owner kept");
        assertTrue(a.allowedComposeHashes(H1), "H1 kept");
        assertTrue(a.allowedComposeHashes(H2), "H2 kept");
        assertEq(uint256(a.composeHashActivatesAt(H1)), T0, "activation time kept");
        assertTrue(a.allowedDeviceIds(DEV1), "DEV1 kept");
        assertTrue(a.allowedDeviceIds(DEV2), "DEV2 kept");
        assertTrue(a.allowAnyDevice(), "any device kept");
        assertTrue(a.requireTcbUpToDate(), "tcb kept");
    }

    function test_upgrade_keepsStorage() public {
        _populate();
        KeygateAppV2 v2 = new KeygateAppV2();
        vm.expectEmit(address(app));
        emit IERC1967.Upgraded(address(v2));
        vm.prank(OWNER);
        app.upgradeToAndCall(address(v2), "");
        assertEq(_implementationOf(address(app)), address(v2), "implementation slot");
        assertEq(app.version(), 2, "new code runs");
        _assertPopulated(app);
        _checkApp(app, _boot(address(app), H2, DEV2, "UpToDate"), true, "");
        vm.prank(OWNER);
        KeygateAppV2(address(app)).setExtra(7);
        assertEq(KeygateAppV2(address(app)).extra(), 7, "appended state works");
        _assertPopulated(app);
    }

    function test_upgrade_emitsPolicyChanged() public {
        KeygateAppV2 v2 = new KeygateAppV2();
        vm.expectEmit(address(app));
        emit KeygateApp.PolicyChanged(
            OWNER, _policy("implementation-upgrade"), bytes32(uint256(uint160(address(v2)))), true
        );
        vm.prank(OWNER);
        app.upgradeToAndCall(address(v2), "");
    }

    function test_upgrade_onlyOwner() public {
        KeygateAppV2 v2 = new KeygateAppV2();
        vm.prank(STRANGER);
        vm.expectRevert(_unauthorized(STRANGER));
        app.upgradeToAndCall(address(v2), "");
        assertEq(_implementationOf(address(app)), address(appImpl), "not upgraded");
    }

    function test_upgrade_rejectsNonUupsImplementation() public {
        NotUpgradeable bad = new NotUpgradeable();
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(ERC1967Utils.ERC1967InvalidImplementation.selector, address(bad)));
        app.upgradeToAndCall(address(bad), "");
    }

    function test_upgrade_onImplementationDirectlyReverts() public {
        KeygateAppV2 v2 = new KeygateAppV2();
        vm.expectRevert(UUPSUpgradeable.UUPSUnauthorizedCallContext.selector);
        appImpl.upgradeToAndCall(address(v2), "");
    }

    function test_disableUpgrades_blocksUpgrades() public {
        vm.expectEmit(address(app));
        emit KeygateApp.UpgradesDisabled();
        vm.expectEmit(address(app));
        emit KeygateApp.PolicyChanged(OWNER, _policy("upgrades-disabled"), bytes32(0), true);
        vm.prank(OWNER);
        app.disableUpgrades();
        assertTrue(app.upgradesDisabled(), "disabled");

        KeygateAppV2 v2 = new KeygateAppV2();
        vm.prank(OWNER);
        vm.expectRevert(KeygateApp.AppUpgradesAreDisabled.selector);
        app.upgradeToAndCall(address(v2), "");
        assertEq(_implementationOf(address(app)), address(appImpl), "still the old implementation");
        assertEq(app.version(), 1, "old code");

        // Irreversible: no second disable, no proposal, and a new owner cannot upgrade either.
        vm.prank(OWNER);
        vm.expectRevert(KeygateApp.AppUpgradesAreDisabled.selector);
        app.disableUpgrades();
        vm.prank(OWNER);
        app.transferOwnership(NEW_OWNER);
        vm.prank(NEW_OWNER);
        app.acceptOwnership();
        vm.prank(NEW_OWNER);
        vm.expectRevert(KeygateApp.AppUpgradesAreDisabled.selector);
        app.upgradeToAndCall(address(v2), "");
    }

    function test_disableUpgrades_atInitialization() public {
        bytes memory init = abi.encodeWithSignature(
            "initialize(address,bool,bool,bool,bytes32,bytes32)", OWNER, true, false, true, bytes32(0), H1
        );
        KeygateApp a = KeygateApp(address(new ERC1967Proxy(address(appImpl), init)));
        assertTrue(a.upgradesDisabled(), "disabled from the start");
        KeygateAppV2 v2 = new KeygateAppV2();
        vm.prank(OWNER);
        vm.expectRevert(KeygateApp.AppUpgradesAreDisabled.selector);
        a.upgradeToAndCall(address(v2), "");
    }

    function test_proxiableUUID_onImplementationOnly() public {
        assertEq(appImpl.proxiableUUID(), IMPLEMENTATION_SLOT, "implementation answers the slot");
        vm.expectRevert(UUPSUpgradeable.UUPSUnauthorizedCallContext.selector);
        app.proxiableUUID();
    }

    function test_noticeGetters_withoutNotice() public view {
        (uint64 p, address g, uint64 at) = app.pendingUpgradeNotice();
        assertEq(uint256(p) + uint256(at), 0, "no pending notice change");
        assertEq(g, address(0), "no pending guardian");
        (address impl, uint64 implAt) = app.pendingUpgrade();
        assertEq(impl, address(0), "no pending upgrade");
        assertEq(uint256(implAt), 0, "no pending upgrade time");
    }
}
