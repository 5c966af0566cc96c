// SPDX-License-Identifier: Apache-2.0
// KeygateKms.t - KMS info, allow-lists, app registry, factory, authorization decisions, upgrades.
pragma solidity ^0.8.24;

import {ERC1967Proxy} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";
import {OwnableUpgradeable} from "@openzeppelin/contracts-upgradeable/access/OwnableUpgradeable.sol";
import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";

import {Fixture} from "./Fixture.sol";
import {IAppAuth} from "../src/IAppAuth.sol";
import {IAppAuthBasicManagement} from "../src/IAppAuthBasicManagement.sol";
import {KeygateApp} from "../src/KeygateApp.sol";
import {KeygateKms} from "../src/KeygateKms.sol";
import {KeygateKmsV2, RevertingApp, SilentDenyApp} from "./mocks/Mocks.sol";

contract KeygateKmsTest is Fixture {
    KeygateKms internal kms;

    function setUp() public {
        vm.warp(T0);
        appImpl = new KeygateApp();
        kms = _newKms(address(appImpl));
    }

    function _unauthorized(address who) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(OwnableUpgradeable.OwnableUnauthorizedAccount.selector, who);
    }

    function _info() internal pure returns (KeygateKms.KmsInfo memory i) {
        i.k256Pubkey = hex"02aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899";
        i.caPubkey = hex"3059301306072a8648ce3d020106082a8648ce3d03010703420004";
        i.quote = hex"0400020081000000";
        i.eventlog = bytes('[{"imr":3}]');
    }

    function _kmsBoot(string memory tcb) internal pure returns (IAppAuth.AppBootInfo memory b) {
        b = _boot(address(0), bytes32(0), DEV1, tcb);
    }

    function _deployApp(bytes32 composeHash) internal returns (KeygateApp) {
        vm.prank(STRANGER);
        return KeygateApp(kms.deployAndRegisterApp(OWNER, false, false, true, bytes32(0), composeHash));
    }

    function _checkKmsApp(IAppAuth.AppBootInfo memory b, bool want, string memory reason) internal view {
        (bool ok, string memory why) = kms.isAppAllowed(b);
        _expectDecision(ok, why, want, reason, reason);
    }

    function _checkKmsNode(IAppAuth.AppBootInfo memory b, bool want, string memory reason) internal view {
        (bool ok, string memory why) = kms.isKmsAllowed(b);
        _expectDecision(ok, why, want, reason, reason);
    }

    // ------------------------------------------------------------ initialization

    function test_initialize() public view {
        assertEq(kms.owner(), OWNER, "owner");
        assertEq(kms.appImplementation(), address(appImpl), "app implementation");
        assertEq(kms.version(), 1, "version");
        assertTrue(kms.supportsInterface(0x1e079198), "IAppAuth");
        assertTrue(kms.supportsInterface(0x01ffc9a7), "IERC165");
        assertFalse(kms.supportsInterface(0x8fd37527), "no app management on the KMS");
    }

    function test_initialize_emits() public {
        KeygateKms impl = new KeygateKms();
        vm.expectEmit(true, true, true, true);
        emit KeygateKms.AppImplementationSet(address(appImpl));
        vm.expectEmit(true, true, true, true);
        emit KeygateKms.PolicyChanged(
            address(this), _policy("app-implementation"), bytes32(uint256(uint160(address(appImpl)))), true
        );
        new ERC1967Proxy(address(impl), abi.encodeCall(KeygateKms.initialize, (OWNER, address(appImpl))));
    }

    function test_initialize_rejections() public {
        KeygateKms impl = new KeygateKms();
        vm.expectRevert(abi.encodeWithSelector(OwnableUpgradeable.OwnableInvalidOwner.selector, address(0)));
        new ERC1967Proxy(address(impl), abi.encodeCall(KeygateKms.initialize, (address(0), address(appImpl))));
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsInvalidImplementation.selector, address(0x99)));
        new ERC1967Proxy(address(impl), abi.encodeCall(KeygateKms.initialize, (OWNER, address(0x99))));
        vm.expectRevert(Initializable.InvalidInitialization.selector);
        kms.initialize(STRANGER, address(0));
        vm.expectRevert(Initializable.InvalidInitialization.selector);
        impl.initialize(STRANGER, address(0));
    }

    // ------------------------------------------------------------ KMS info

    function test_setKmsInfo() public {
        KeygateKms.KmsInfo memory i = _info();
        vm.expectEmit(address(kms));
        emit KeygateKms.KmsInfoSet(i.k256Pubkey);
        vm.expectEmit(address(kms));
        emit KeygateKms.PolicyChanged(OWNER, _policy("kms-info"), keccak256(i.k256Pubkey), true);
        vm.prank(OWNER);
        kms.setKmsInfo(i);
        (bytes memory k, bytes memory ca, bytes memory q, bytes memory ev) = kms.kmsInfo();
        assertEq(k, i.k256Pubkey, "k256 pubkey");
        assertEq(ca, i.caPubkey, "ca pubkey");
        assertEq(q, i.quote, "quote");
        assertEq(ev, i.eventlog, "eventlog");
    }

    function test_setKmsQuoteAndEventlog() public {
        vm.prank(OWNER);
        kms.setKmsInfo(_info());
        bytes memory quote = hex"05000200";
        bytes memory log = bytes("[]");
        vm.expectEmit(address(kms));
        emit KeygateKms.KmsQuoteSet(keccak256(quote));
        vm.expectEmit(address(kms));
        emit KeygateKms.PolicyChanged(OWNER, _policy("kms-quote"), keccak256(quote), true);
        vm.prank(OWNER);
        kms.setKmsQuote(quote);
        vm.expectEmit(address(kms));
        emit KeygateKms.KmsEventlogSet(keccak256(log));
        vm.expectEmit(address(kms));
        emit KeygateKms.PolicyChanged(OWNER, _policy("kms-eventlog"), keccak256(log), true);
        vm.prank(OWNER);
        kms.setKmsEventlog(log);
        (bytes memory k,, bytes memory q, bytes memory ev) = kms.kmsInfo();
        assertEq(k, _info().k256Pubkey, "pubkey untouched");
        assertEq(q, quote, "quote replaced");
        assertEq(ev, log, "eventlog replaced");
    }

    function test_gatewayAppId() public {
        vm.expectEmit(address(kms));
        emit KeygateKms.GatewayAppIdSet("0xgateway");
        vm.expectEmit(address(kms));
        emit KeygateKms.PolicyChanged(OWNER, _policy("gateway-app-id"), keccak256("0xgateway"), true);
        vm.prank(OWNER);
        kms.setGatewayAppId("0xgateway");
        assertEq(kms.gatewayAppId(), "0xgateway", "gateway app id");
    }

    function test_ownerFunctions_access() public {
        KeygateKms.KmsInfo memory i = _info();
        KeygateKmsV2 v2 = new KeygateKmsV2();
        vm.startPrank(STRANGER);
        vm.expectRevert(_unauthorized(STRANGER));
        kms.setKmsInfo(i);
        vm.expectRevert(_unauthorized(STRANGER));
        kms.setKmsQuote(hex"00");
        vm.expectRevert(_unauthorized(STRANGER));
        kms.setKmsEventlog(hex"00");
        vm.expectRevert(_unauthorized(STRANGER));
        kms.setGatewayAppId("x");
        vm.expectRevert(_unauthorized(STRANGER));
        kms.setAppImplementation(address(appImpl));
        vm.expectRevert(_unauthorized(STRANGER));
        kms.addKmsAggregatedMr(MR1);
        vm.expectRevert(_unauthorized(STRANGER));
        kms.removeKmsAggregatedMr(MR1);
        vm.expectRevert(_unauthorized(STRANGER));
        kms.addKmsDevice(DEV1);
        vm.expectRevert(_unauthorized(STRANGER));
        kms.removeKmsDevice(DEV1);
        vm.expectRevert(_unauthorized(STRANGER));
        kms.addOsImageHash(OS1);
        vm.expectRevert(_unauthorized(STRANGER));
        kms.removeOsImageHash(OS1);
        vm.expectRevert(_unauthorized(STRANGER));
        kms.upgradeToAndCall(address(v2), "");
        vm.stopPrank();
    }

    // ------------------------------------------------------------ allow-lists

    function test_kmsAggregatedMr_addRemove() public {
        vm.expectEmit(address(kms));
        emit KeygateKms.KmsAggregatedMrAdded(MR1);
        vm.expectEmit(address(kms));
        emit KeygateKms.PolicyChanged(OWNER, _policy("kms-aggregated-mr"), MR1, true);
        vm.prank(OWNER);
        kms.addKmsAggregatedMr(MR1);
        assertTrue(kms.kmsAllowedAggregatedMrs(MR1), "added");
        vm.expectEmit(address(kms));
        emit KeygateKms.KmsAggregatedMrRemoved(MR1);
        vm.expectEmit(address(kms));
        emit KeygateKms.PolicyChanged(OWNER, _policy("kms-aggregated-mr"), MR1, false);
        vm.prank(OWNER);
        kms.removeKmsAggregatedMr(MR1);
        assertFalse(kms.kmsAllowedAggregatedMrs(MR1), "removed");
    }

    function test_kmsDevice_addRemove() public {
        vm.expectEmit(address(kms));
        emit KeygateKms.KmsDeviceAdded(DEV1);
        vm.expectEmit(address(kms));
        emit KeygateKms.PolicyChanged(OWNER, _policy("kms-device"), DEV1, true);
        vm.prank(OWNER);
        kms.addKmsDevice(DEV1);
        assertTrue(kms.kmsAllowedDeviceIds(DEV1), "added");
        vm.expectEmit(address(kms));
        emit KeygateKms.KmsDeviceRemoved(DEV1);
        vm.expectEmit(address(kms));
        emit KeygateKms.PolicyChanged(OWNER, _policy("kms-device"), DEV1, false);
        vm.prank(OWNER);
        kms.removeKmsDevice(DEV1);
        assertFalse(kms.kmsAllowedDeviceIds(DEV1), "removed");
    }

    function test_osImage_addRemove() public {
        vm.expectEmit(address(kms));
        emit KeygateKms.OsImageHashAdded(OS1);
        vm.expectEmit(address(kms));
        emit KeygateKms.PolicyChanged(OWNER, _policy("os-image"), OS1, true);
        vm.prank(OWNER);
        kms.addOsImageHash(OS1);
        assertTrue(kms.allowedOsImages(OS1), "added");
        vm.expectEmit(address(kms));
        emit KeygateKms.OsImageHashRemoved(OS1);
        vm.expectEmit(address(kms));
        emit KeygateKms.PolicyChanged(OWNER, _policy("os-image"), OS1, false);
        vm.prank(OWNER);
        kms.removeOsImageHash(OS1);
        assertFalse(kms.allowedOsImages(OS1), "removed");
    }

    // ------------------------------------------------------------ isKmsAllowed

    function test_isKmsAllowed_checkOrder() public {
        _checkKmsNode(_kmsBoot("OutOfDate"), false, "tcb status not up to date");
        _checkKmsNode(_kmsBoot("UpToDate"), false, "os image not allowed");
        vm.prank(OWNER);
        kms.addOsImageHash(OS1);
        _checkKmsNode(_kmsBoot("OutOfDate"), false, "tcb status not up to date");
        _checkKmsNode(_kmsBoot("UpToDate"), false, "aggregated mr not allowed");
        vm.prank(OWNER);
        kms.addKmsAggregatedMr(MR1);
        _checkKmsNode(_kmsBoot("UpToDate"), false, "kms device not allowed");
        vm.prank(OWNER);
        kms.addKmsDevice(DEV1);
        _checkKmsNode(_kmsBoot("UpToDate"), true, "");
        _checkKmsNode(_kmsBoot("SWHardeningNeeded"), false, "tcb status not up to date");
        vm.prank(OWNER);
        kms.removeKmsDevice(DEV1);
        _checkKmsNode(_kmsBoot("UpToDate"), false, "kms device not allowed");
    }

    // ------------------------------------------------------------ registry

    function test_registerApp_permissionless() public {
        address appId = address(new SilentDenyApp());
        vm.expectEmit(address(kms));
        emit KeygateKms.AppRegistered(appId);
        vm.expectEmit(address(kms));
        emit KeygateKms.PolicyChanged(STRANGER, _policy("registered-app"), bytes32(uint256(uint160(appId))), true);
        vm.prank(STRANGER);
        kms.registerApp(appId);
        assertTrue(kms.registeredApps(appId), "registered");
    }

    function test_registerApp_rejections() public {
        vm.expectRevert(KeygateKms.KmsInvalidAppId.selector);
        kms.registerApp(address(0));
        kms.registerApp(address(0x1234));
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsAppAlreadyRegistered.selector, address(0x1234)));
        kms.registerApp(address(0x1234));
    }

    function test_setAppImplementation() public {
        KeygateApp other = new KeygateApp();
        vm.expectEmit(address(kms));
        emit KeygateKms.AppImplementationSet(address(other));
        vm.prank(OWNER);
        kms.setAppImplementation(address(other));
        assertEq(kms.appImplementation(), address(other), "set");
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsInvalidImplementation.selector, address(0)));
        kms.setAppImplementation(address(0));
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsInvalidImplementation.selector, STRANGER));
        kms.setAppImplementation(STRANGER);
    }

    // ------------------------------------------------------------ factory

    function test_factory_deploysAndRegistersInOneCall() public {
        vm.prank(STRANGER);
        address appId = kms.deployAndRegisterApp(OWNER, false, true, false, DEV1, H1);
        assertTrue(appId.code.length > 0, "proxy deployed");
        assertTrue(kms.registeredApps(appId), "registered");
        assertEq(_implementationOf(appId), address(appImpl), "behind the app implementation");
        KeygateApp app = KeygateApp(appId);
        assertEq(app.owner(), OWNER, "app owner");
        assertTrue(app.requireTcbUpToDate(), "tcb flag passed");
        assertFalse(app.allowAnyDevice(), "device flag passed");
        assertTrue(app.allowedDeviceIds(DEV1), "device passed");
        assertTrue(app.allowedComposeHashes(H1), "hash passed");
    }

    function test_factory_emits() public {
        address predicted = _predictCreate(address(kms), 1);
        vm.expectEmit(address(kms));
        emit KeygateKms.AppRegistered(predicted);
        vm.expectEmit(address(kms));
        emit KeygateKms.PolicyChanged(STRANGER, _policy("registered-app"), bytes32(uint256(uint160(predicted))), true);
        vm.expectEmit(address(kms));
        emit KeygateKms.AppDeployedViaFactory(predicted, STRANGER);
        address appId = _deployAppAddress();
        assertEq(appId, predicted, "app id is the proxy address");
    }

    function _deployAppAddress() internal returns (address) {
        vm.prank(STRANGER);
        return kms.deployAndRegisterApp(OWNER, false, false, true, bytes32(0), H1);
    }

    /// @dev CREATE address for `deployer` at `nonce`: keccak256(rlp([deployer, nonce])), for 1 <= nonce < 0x80.
    function _predictCreate(address deployer, uint8 nonce) internal pure returns (address) {
        require(nonce >= 1 && nonce < 0x80, "single-byte RLP nonce only");
        return address(uint160(uint256(keccak256(abi.encodePacked(hex"d694", deployer, nonce)))));
    }

    function test_factory_notBlockedByPreRegistration() public {
        // An attacker registers the factory's next CREATE address before the deployment.
        address predicted = _predictCreate(address(kms), 1);
        vm.prank(STRANGER);
        kms.registerApp(predicted);
        vm.expectEmit(address(kms));
        emit KeygateKms.AppDeployedViaFactory(predicted, OWNER);
        vm.prank(OWNER);
        address appId = kms.deployAndRegisterApp(OWNER, false, false, true, bytes32(0), H1);
        assertEq(appId, predicted, "deployed at the pre-registered address");
        assertTrue(kms.registeredApps(appId), "registered");
        assertEq(KeygateApp(appId).owner(), OWNER, "the real app is there");
    }

    function test_factory_dstackFiveArgumentForm() public {
        address appId = kms.deployAndRegisterApp(OWNER, true, true, DEV1, H1);
        KeygateApp app = KeygateApp(appId);
        assertTrue(kms.registeredApps(appId), "registered");
        assertTrue(app.upgradesDisabled(), "upgrades disabled");
        assertTrue(app.allowAnyDevice(), "any device");
        assertFalse(app.requireTcbUpToDate(), "no tcb requirement");
    }

    function test_factory_withNotice() public {
        address appId = kms.deployAndRegisterAppWithNotice(OWNER, false, false, true, bytes32(0), H1, NOTICE, GUARDIAN);
        KeygateApp app = KeygateApp(appId);
        (uint64 p, address g) = app.upgradeNotice();
        assertEq(uint256(p), NOTICE, "notice period");
        assertEq(g, GUARDIAN, "guardian");
        assertTrue(kms.registeredApps(appId), "registered");
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppNoticePeriodActive.selector, NOTICE));
        app.addComposeHash(H2);
    }

    function test_factory_rejections() public {
        vm.expectRevert(KeygateKms.KmsInvalidAppOwner.selector);
        kms.deployAndRegisterApp(address(0), false, false, true, bytes32(0), H1);
        vm.expectRevert(KeygateKms.KmsInvalidAppOwner.selector);
        kms.deployAndRegisterAppWithNotice(address(0), false, false, true, bytes32(0), H1, 0, address(0));
        uint64 tooLong = appImpl.MAX_NOTICE_PERIOD() + 1;
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppNoticePeriodTooLong.selector, tooLong));
        kms.deployAndRegisterAppWithNotice(OWNER, false, false, true, bytes32(0), H1, tooLong, GUARDIAN);

        KeygateKms bare = _newKms(address(0));
        assertEq(bare.appImplementation(), address(0), "no implementation");
        vm.expectRevert(KeygateKms.KmsAppImplementationNotSet.selector);
        bare.deployAndRegisterApp(OWNER, false, false, true, bytes32(0), H1);
        vm.expectRevert(KeygateKms.KmsAppImplementationNotSet.selector);
        bare.deployAndRegisterApp(OWNER, false, true, bytes32(0), H1);
    }

    // ------------------------------------------------------------ isAppAllowed

    function test_isAppAllowed_fullPath() public {
        KeygateApp app = _deployApp(H1);
        IAppAuth.AppBootInfo memory b = _boot(address(app), H1, DEV2, "UpToDate");
        _checkKmsApp(b, false, "os image not allowed");
        vm.prank(OWNER);
        kms.addOsImageHash(OS1);
        _checkKmsApp(b, true, "");

        b.composeHash = H2;
        _checkKmsApp(b, false, "compose hash not allowed");
        vm.prank(OWNER);
        app.addComposeHash(H2);
        _checkKmsApp(b, true, "");
        vm.prank(OWNER);
        app.removeComposeHash(H2);
        _checkKmsApp(b, false, "compose hash not allowed");
    }

    function test_isAppAllowed_checkOrder() public {
        // Unregistered beats everything, even a missing OS image.
        _checkKmsApp(_boot(address(0x4444), H1, DEV1, "UpToDate"), false, "app not registered");
        kms.registerApp(address(0x4444));
        _checkKmsApp(_boot(address(0x4444), H1, DEV1, "UpToDate"), false, "os image not allowed");
        vm.prank(OWNER);
        kms.addOsImageHash(OS1);
        _checkKmsApp(_boot(address(0x4444), H1, DEV1, "UpToDate"), false, "app has no code");
    }

    function test_isAppAllowed_failsClosedOnBadApps() public {
        vm.prank(OWNER);
        kms.addOsImageHash(OS1);
        address reverting = address(new RevertingApp());
        address silent = address(new SilentDenyApp());
        kms.registerApp(reverting);
        kms.registerApp(silent);
        _checkKmsApp(_boot(reverting, H1, DEV1, "UpToDate"), false, "app contract call failed");
        _checkKmsApp(_boot(silent, H1, DEV1, "UpToDate"), false, "denied by app contract");
    }

    function test_isAppAllowed_osImageRemovalIsImmediate() public {
        KeygateApp app = _deployApp(H1);
        vm.prank(OWNER);
        kms.addOsImageHash(OS1);
        IAppAuth.AppBootInfo memory b = _boot(address(app), H1, DEV1, "UpToDate");
        _checkKmsApp(b, true, "");
        vm.prank(OWNER);
        kms.removeOsImageHash(OS1);
        _checkKmsApp(b, false, "os image not allowed");
    }

    function test_isAppAllowed_noticeAppThroughKms() public {
        vm.startPrank(OWNER);
        kms.addOsImageHash(OS1);
        kms.setGovernanceNotice(NOTICE, GUARDIAN); // a time-locked app needs a KMS notice at least as long
        vm.stopPrank();
        KeygateApp app =
            KeygateApp(kms.deployAndRegisterAppWithNotice(OWNER, false, false, true, bytes32(0), H1, NOTICE, GUARDIAN));
        vm.prank(OWNER);
        app.proposeComposeHash(H2);
        IAppAuth.AppBootInfo memory b = _boot(address(app), H2, DEV1, "UpToDate");
        vm.warp(T0 + NOTICE - 1);
        _checkKmsApp(b, false, "compose hash pending: notice period not over");
        vm.warp(T0 + NOTICE);
        _checkKmsApp(b, true, "");
    }

    // ------------------------------------------------------------ upgrades

    function test_upgrade_keepsStorage() public {
        vm.startPrank(OWNER);
        kms.setKmsInfo(_info());
        kms.setGatewayAppId("gw");
        kms.addKmsAggregatedMr(MR1);
        kms.addKmsDevice(DEV1);
        kms.addOsImageHash(OS1);
        vm.stopPrank();
        KeygateApp app = _deployApp(H1);

        KeygateKmsV2 v2 = new KeygateKmsV2();
        vm.expectEmit(address(kms));
        emit KeygateKms.PolicyChanged(
            OWNER, _policy("implementation-upgrade"), bytes32(uint256(uint160(address(v2)))), true
        );
        vm.prank(OWNER);
        kms.upgradeToAndCall(address(v2), "");

        assertEq(kms.version(), 2, "new code");
        assertEq(_implementationOf(address(kms)), address(v2), "slot");
        assertEq(kms.owner(), OWNER, "owner kept");
        (bytes memory k,,,) = kms.kmsInfo();
        assertEq(k, _info().k256Pubkey, "kms info kept");
        assertEq(kms.gatewayAppId(), "gw", "gateway kept");
        assertTrue(kms.kmsAllowedAggregatedMrs(MR1), "mr kept");
        assertTrue(kms.kmsAllowedDeviceIds(DEV1), "device kept");
        assertTrue(kms.allowedOsImages(OS1), "os image kept");
        assertTrue(kms.registeredApps(address(app)), "registry kept");
        assertEq(kms.appImplementation(), address(appImpl), "app implementation kept");
        _checkKmsApp(_boot(address(app), H1, DEV1, "UpToDate"), true, "");
    }

    function test_ownership_twoStep() public {
        vm.prank(OWNER);
        kms.transferOwnership(NEW_OWNER);
        assertEq(kms.owner(), OWNER, "not yet");
        vm.prank(NEW_OWNER);
        kms.acceptOwnership();
        assertEq(kms.owner(), NEW_OWNER, "accepted");
        vm.prank(OWNER);
        vm.expectRevert(_unauthorized(OWNER));
        kms.addOsImageHash(OS1);
    }
}
