// SPDX-License-Identifier: Apache-2.0
// KmsGovernanceNotice.t - the KMS contract's own notice period and guardian: time-locked OS images,
// KMS MRs, KMS devices and upgrades, immediate removals, and apps never served under a shorter notice.
pragma solidity ^0.8.24;

import {OwnableUpgradeable} from "@openzeppelin/contracts-upgradeable/access/OwnableUpgradeable.sol";

import {Fixture} from "./Fixture.sol";
import {IAppAuth} from "../src/IAppAuth.sol";
import {KeygateApp} from "../src/KeygateApp.sol";
import {KeygateKms} from "../src/KeygateKms.sol";
import {AllowAllKms, DstackStyleApp, FallbackApp, KeygateKmsV2} from "./mocks/Mocks.sol";

contract KmsGovernanceNoticeTest is Fixture {
    bytes32 internal constant OS2 = keccak256("os image 2");
    bytes32 internal constant MR2 = keccak256("kms mr 2");
    uint64 internal constant SHORT = 1 days;

    KeygateKms internal kms;
    KeygateApp internal app; // time-locked app (NOTICE), H1 allowed, H2 proposed at T0
    uint64 internal at; // T0 + NOTICE: activation of anything proposed at T0

    function setUp() public {
        vm.warp(T0);
        appImpl = new KeygateApp();
        kms = _newKms(address(appImpl));
        // Bring-up at notice 0 (as `keygate devnet up` does), then raise the notice: immediate.
        vm.startPrank(OWNER);
        kms.addOsImageHash(OS1);
        kms.addKmsAggregatedMr(MR1);
        kms.addKmsDevice(DEV1);
        kms.setGovernanceNotice(NOTICE, GUARDIAN);
        vm.stopPrank();
        app =
            KeygateApp(kms.deployAndRegisterAppWithNotice(OWNER, false, false, true, bytes32(0), H1, NOTICE, GUARDIAN));
        vm.prank(OWNER);
        app.proposeComposeHash(H2);
        at = T0 + NOTICE;
    }

    function _checkKmsApp(IAppAuth.AppBootInfo memory b, bool want, string memory reason) internal view {
        (bool ok, string memory why) = kms.isAppAllowed(b);
        _expectDecision(ok, why, want, reason, reason);
    }

    function _checkKmsNode(IAppAuth.AppBootInfo memory b, bool want, string memory reason) internal view {
        (bool ok, string memory why) = kms.isKmsAllowed(b);
        _expectDecision(ok, why, want, reason, reason);
    }

    function _kmsBoot(bytes32 os, bytes32 mr, bytes32 device) internal pure returns (IAppAuth.AppBootInfo memory b) {
        b = _boot(address(0), bytes32(0), device, "UpToDate");
        b.osImageHash = os;
        b.mrAggregated = mr;
    }

    function _appBoot(bytes32 composeHash, bytes32 os) internal view returns (IAppAuth.AppBootInfo memory b) {
        b = _boot(address(app), composeHash, DEV1, "UpToDate");
        b.osImageHash = os;
    }

    function _notice() internal view returns (uint64 p, address g) {
        return kms.governanceNotice();
    }

    function _shorterReason(uint64 kmsNotice, uint64 appNotice) internal pure returns (string memory) {
        return string.concat(
            "KMS governance notice (", _u(kmsNotice), " s) is shorter than the app's notice (", _u(appNotice), " s)"
        );
    }

    function _u(uint256 v) internal pure returns (string memory) {
        if (v == 0) return "0";
        bytes memory b;
        while (v > 0) {
            b = abi.encodePacked(bytes1(uint8(48 + v % 10)), b);
            v /= 10;
        }
        return string(b);
    }

    // ------------------------------------------------------------ notice 0: dstack behaviour

    function test_default_noNotice_oneCallPathsUnchanged() public {
        KeygateKms fresh = _newKms(address(appImpl));
        (uint64 p, address g) = fresh.governanceNotice();
        assertEq(uint256(p), 0, "default period");
        assertEq(g, address(0), "default guardian");
        assertEq(uint256(fresh.guaranteedNotice()), 0, "nothing guaranteed");
        vm.startPrank(OWNER);
        fresh.addOsImageHash(OS2);
        fresh.addKmsAggregatedMr(MR2);
        fresh.addKmsDevice(DEV2);
        assertTrue(fresh.allowedOsImages(OS2), "os image at once");
        assertTrue(fresh.kmsAllowedAggregatedMrs(MR2), "mr at once");
        assertTrue(fresh.kmsAllowedDeviceIds(DEV2), "device at once");
        KeygateKmsV2 v2 = new KeygateKmsV2();
        fresh.upgradeToAndCall(address(v2), "");
        assertEq(fresh.version(), 2, "upgrade at once");
        vm.expectRevert(KeygateKms.KmsNoNoticePeriod.selector);
        fresh.proposeOsImageHash(OS1);
        vm.expectRevert(KeygateKms.KmsNoNoticePeriod.selector);
        fresh.proposeKmsAggregatedMr(MR1);
        vm.expectRevert(KeygateKms.KmsNoNoticePeriod.selector);
        fresh.proposeKmsDevice(DEV1);
        vm.expectRevert(KeygateKms.KmsNoNoticePeriod.selector);
        fresh.proposeUpgrade(address(v2));
        vm.stopPrank();
    }

    function test_setNotice_fromZeroIsImmediate() public {
        KeygateKms fresh = _newKms(address(appImpl));
        vm.expectEmit(address(fresh));
        emit KeygateKms.GovernanceNoticeChanged(NOTICE, GUARDIAN);
        vm.expectEmit(address(fresh));
        emit KeygateKms.PolicyChanged(OWNER, _policy("governance-notice"), bytes32(uint256(NOTICE)), true);
        vm.prank(OWNER);
        fresh.setGovernanceNotice(NOTICE, GUARDIAN);
        (uint64 p, address g) = fresh.governanceNotice();
        assertEq(uint256(p), NOTICE, "period at once");
        assertEq(g, GUARDIAN, "guardian at once");
        assertEq(uint256(fresh.guaranteedNotice()), NOTICE, "guaranteed at once");
    }

    // ------------------------------------------------------------ one-call adds are closed under a notice

    function test_add_refusedUnderNotice() public {
        bytes memory err = abi.encodeWithSelector(KeygateKms.KmsNoticePeriodActive.selector, NOTICE);
        vm.startPrank(OWNER);
        vm.expectRevert(err);
        kms.addOsImageHash(OS2);
        vm.expectRevert(err);
        kms.addKmsAggregatedMr(MR2);
        vm.expectRevert(err);
        kms.addKmsDevice(DEV2);
        vm.stopPrank();
    }

    // ------------------------------------------------------------ proposals activate at proposal + notice

    function test_proposeOsImage_boundaries() public {
        vm.expectEmit(address(kms));
        emit KeygateKms.OsImageHashProposed(OS2, at);
        vm.expectEmit(address(kms));
        emit KeygateKms.PolicyChanged(OWNER, _policy("os-image-proposal"), OS2, true);
        vm.prank(OWNER);
        kms.proposeOsImageHash(OS2);
        assertEq(uint256(kms.osImageHashActivatesAt(OS2)), at, "activation time");

        vm.warp(at - 1);
        assertFalse(kms.allowedOsImages(OS2), "not yet");
        _checkKmsApp(_appBoot(H1, OS2), false, "os image not allowed");
        _checkKmsNode(_kmsBoot(OS2, MR1, DEV1), false, "os image not allowed");
        vm.warp(at);
        assertTrue(kms.allowedOsImages(OS2), "at activation");
        _checkKmsApp(_appBoot(H1, OS2), true, "");
        _checkKmsNode(_kmsBoot(OS2, MR1, DEV1), true, "");
    }

    function test_proposeKmsMr_boundaries() public {
        vm.expectEmit(address(kms));
        emit KeygateKms.KmsAggregatedMrProposed(MR2, at);
        vm.expectEmit(address(kms));
        emit KeygateKms.PolicyChanged(OWNER, _policy("kms-aggregated-mr-proposal"), MR2, true);
        vm.prank(OWNER);
        kms.proposeKmsAggregatedMr(MR2);
        assertEq(uint256(kms.kmsAggregatedMrActivatesAt(MR2)), at, "activation time");
        vm.warp(at - 1);
        assertFalse(kms.kmsAllowedAggregatedMrs(MR2), "not yet");
        _checkKmsNode(_kmsBoot(OS1, MR2, DEV1), false, "aggregated mr not allowed");
        vm.warp(at);
        assertTrue(kms.kmsAllowedAggregatedMrs(MR2), "at activation");
        _checkKmsNode(_kmsBoot(OS1, MR2, DEV1), true, "");
    }

    function test_proposeKmsDevice_boundaries() public {
        vm.expectEmit(address(kms));
        emit KeygateKms.KmsDeviceProposed(DEV2, at);
        vm.expectEmit(address(kms));
        emit KeygateKms.PolicyChanged(OWNER, _policy("kms-device-proposal"), DEV2, true);
        vm.prank(OWNER);
        kms.proposeKmsDevice(DEV2);
        assertEq(uint256(kms.kmsDeviceActivatesAt(DEV2)), at, "activation time");
        vm.warp(at - 1);
        assertFalse(kms.kmsAllowedDeviceIds(DEV2), "not yet");
        _checkKmsNode(_kmsBoot(OS1, MR1, DEV2), false, "kms device not allowed");
        vm.warp(at);
        assertTrue(kms.kmsAllowedDeviceIds(DEV2), "at activation");
        _checkKmsNode(_kmsBoot(OS1, MR1, DEV2), true, "");
    }

    function test_propose_refusedWhenAllowedOrPending() public {
        vm.startPrank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsAlreadyAllowed.selector, OS1));
        kms.proposeOsImageHash(OS1);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsAlreadyAllowed.selector, MR1));
        kms.proposeKmsAggregatedMr(MR1);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsAlreadyAllowed.selector, DEV1));
        kms.proposeKmsDevice(DEV1);
        kms.proposeOsImageHash(OS2);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsAlreadyPending.selector, OS2, at));
        kms.proposeOsImageHash(OS2); // re-proposing would not shorten the wait
        vm.warp(at);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsAlreadyAllowed.selector, OS2));
        kms.proposeOsImageHash(OS2);
        vm.stopPrank();
    }

    // ------------------------------------------------------------ guardian vetoes

    function test_veto_osImage() public {
        vm.prank(OWNER);
        kms.proposeOsImageHash(OS2);
        vm.warp(at - 1);
        vm.expectEmit(address(kms));
        emit KeygateKms.OsImageHashVetoed(OS2, GUARDIAN);
        vm.expectEmit(address(kms));
        emit KeygateKms.PolicyChanged(GUARDIAN, _policy("os-image-proposal"), OS2, false);
        vm.prank(GUARDIAN);
        kms.vetoOsImageHash(OS2);
        assertEq(uint256(kms.osImageHashActivatesAt(OS2)), 0, "gone");
        vm.warp(at + 1);
        assertFalse(kms.allowedOsImages(OS2), "never activates");
        _checkKmsApp(_appBoot(H1, OS2), false, "os image not allowed");
    }

    function test_veto_kmsMr() public {
        vm.prank(OWNER);
        kms.proposeKmsAggregatedMr(MR2);
        vm.warp(at - 1);
        vm.expectEmit(address(kms));
        emit KeygateKms.KmsAggregatedMrVetoed(MR2, GUARDIAN);
        vm.prank(GUARDIAN);
        kms.vetoKmsAggregatedMr(MR2);
        vm.warp(at + 1);
        _checkKmsNode(_kmsBoot(OS1, MR2, DEV1), false, "aggregated mr not allowed");
    }

    function test_veto_kmsDevice() public {
        vm.prank(OWNER);
        kms.proposeKmsDevice(DEV2);
        vm.warp(at - 1);
        vm.expectEmit(address(kms));
        emit KeygateKms.KmsDeviceVetoed(DEV2, GUARDIAN);
        vm.prank(GUARDIAN);
        kms.vetoKmsDevice(DEV2);
        vm.warp(at + 1);
        _checkKmsNode(_kmsBoot(OS1, MR1, DEV2), false, "kms device not allowed");
    }

    function test_veto_tooLateOrNothingPending() public {
        vm.prank(OWNER);
        kms.proposeKmsAggregatedMr(MR2);
        vm.warp(at);
        vm.startPrank(GUARDIAN);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsNotPending.selector, MR2));
        kms.vetoKmsAggregatedMr(MR2);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsNotPending.selector, OS1));
        kms.vetoOsImageHash(OS1); // added at once: nothing to veto
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsNotPending.selector, DEV2));
        kms.vetoKmsDevice(DEV2);
        vm.expectRevert(KeygateKms.KmsNoPendingUpgrade.selector);
        kms.vetoUpgrade();
        vm.expectRevert(KeygateKms.KmsNoPendingNoticeChange.selector);
        kms.vetoGovernanceNoticeChange();
        vm.stopPrank();
        assertTrue(kms.kmsAllowedAggregatedMrs(MR2), "stays allowed");
    }

    function test_veto_onlyGuardian() public {
        vm.prank(OWNER);
        kms.proposeOsImageHash(OS2);
        address[2] memory who = [OWNER, STRANGER];
        for (uint256 i = 0; i < 2; i++) {
            vm.startPrank(who[i]);
            vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsUnauthorizedGuardian.selector, who[i]));
            kms.vetoOsImageHash(OS2);
            vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsUnauthorizedGuardian.selector, who[i]));
            kms.vetoKmsAggregatedMr(MR2);
            vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsUnauthorizedGuardian.selector, who[i]));
            kms.vetoKmsDevice(DEV2);
            vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsUnauthorizedGuardian.selector, who[i]));
            kms.vetoUpgrade();
            vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsUnauthorizedGuardian.selector, who[i]));
            kms.vetoGovernanceNoticeChange();
            vm.stopPrank();
        }
        assertEq(uint256(kms.osImageHashActivatesAt(OS2)), at, "still pending");
    }

    function test_veto_nobodyWithoutGuardian() public {
        KeygateKms k = _newKms(address(appImpl));
        vm.startPrank(OWNER);
        k.setGovernanceNotice(NOTICE, address(0));
        k.proposeOsImageHash(OS2);
        vm.stopPrank();
        vm.prank(address(0));
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsUnauthorizedGuardian.selector, address(0)));
        k.vetoOsImageHash(OS2);
        vm.warp(at);
        assertTrue(k.allowedOsImages(OS2), "activates without a guardian");
    }

    // ------------------------------------------------------------ removals stay immediate

    function test_removals_immediateUnderNotice() public {
        vm.startPrank(OWNER);
        kms.proposeOsImageHash(OS2);
        kms.proposeKmsAggregatedMr(MR2);
        kms.proposeKmsDevice(DEV2);
        kms.removeOsImageHash(OS1);
        kms.removeKmsAggregatedMr(MR1);
        kms.removeKmsDevice(DEV1);
        kms.removeOsImageHash(OS2); // pending ones too
        kms.removeKmsAggregatedMr(MR2);
        kms.removeKmsDevice(DEV2);
        vm.stopPrank();
        assertFalse(kms.allowedOsImages(OS1), "os image at once");
        assertFalse(kms.kmsAllowedAggregatedMrs(MR1), "mr at once");
        assertFalse(kms.kmsAllowedDeviceIds(DEV1), "device at once");
        _checkKmsApp(_appBoot(H1, OS1), false, "os image not allowed");
        _checkKmsNode(_kmsBoot(OS1, MR1, DEV1), false, "os image not allowed");
        vm.warp(at + 1);
        assertFalse(kms.allowedOsImages(OS2), "removed proposal never activates");
        assertFalse(kms.kmsAllowedAggregatedMrs(MR2), "removed mr proposal never activates");
        assertFalse(kms.kmsAllowedDeviceIds(DEV2), "removed device proposal never activates");
        assertEq(uint256(kms.osImageHashActivatesAt(OS2)), 0, "proposal cleared");
    }

    // ------------------------------------------------------------ upgrades

    function test_upgrade_requiresProposal() public {
        KeygateKmsV2 v2 = new KeygateKmsV2();
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsUpgradeNotProposed.selector, address(v2)));
        kms.upgradeToAndCall(address(v2), "");
    }

    function test_upgrade_boundaries_keepState() public {
        KeygateKmsV2 v2 = new KeygateKmsV2();
        vm.startPrank(OWNER);
        kms.proposeOsImageHash(OS2);
        vm.expectEmit(address(kms));
        emit KeygateKms.UpgradeProposed(address(v2), at);
        vm.expectEmit(address(kms));
        emit KeygateKms.PolicyChanged(OWNER, _policy("upgrade-proposal"), bytes32(uint256(uint160(address(v2)))), true);
        kms.proposeUpgrade(address(v2));
        vm.stopPrank();
        (address impl, uint64 pat) = kms.pendingUpgrade();
        assertEq(impl, address(v2), "pending implementation");
        assertEq(uint256(pat), at, "pending activation");

        vm.warp(at - 1);
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsUpgradeNotReady.selector, address(v2), at));
        kms.upgradeToAndCall(address(v2), "");

        vm.warp(at);
        vm.prank(OWNER);
        kms.upgradeToAndCall(address(v2), "");
        assertEq(kms.version(), 2, "upgraded at activation");
        assertEq(_implementationOf(address(kms)), address(v2), "slot");
        (impl,) = kms.pendingUpgrade();
        assertEq(impl, address(0), "proposal consumed");
        (uint64 p, address g) = _notice();
        assertEq(uint256(p), NOTICE, "notice kept");
        assertEq(g, GUARDIAN, "guardian kept");
        assertEq(uint256(kms.osImageHashActivatesAt(OS2)), at, "proposal kept");
        assertTrue(kms.allowedOsImages(OS1) && kms.allowedOsImages(OS2), "os images kept");
        assertTrue(kms.kmsAllowedAggregatedMrs(MR1) && kms.kmsAllowedDeviceIds(DEV1), "kms lists kept");
    }

    function test_upgrade_onlyTheProposedImplementation() public {
        KeygateKmsV2 v2 = new KeygateKmsV2();
        KeygateKmsV2 other = new KeygateKmsV2();
        vm.prank(OWNER);
        kms.proposeUpgrade(address(v2));
        vm.warp(at);
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsUpgradeNotProposed.selector, address(other)));
        kms.upgradeToAndCall(address(other), "");
    }

    function test_upgrade_veto() public {
        KeygateKmsV2 v2 = new KeygateKmsV2();
        vm.prank(OWNER);
        kms.proposeUpgrade(address(v2));
        vm.warp(at - 1);
        vm.expectEmit(address(kms));
        emit KeygateKms.UpgradeVetoed(address(v2), GUARDIAN);
        vm.expectEmit(address(kms));
        emit KeygateKms.PolicyChanged(
            GUARDIAN, _policy("upgrade-proposal"), bytes32(uint256(uint160(address(v2)))), false
        );
        vm.prank(GUARDIAN);
        kms.vetoUpgrade();
        vm.warp(at + 1);
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsUpgradeNotProposed.selector, address(v2)));
        kms.upgradeToAndCall(address(v2), "");
        assertEq(kms.version(), 1, "not upgraded");
    }

    function test_proposeUpgrade_rejections() public {
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsInvalidImplementation.selector, address(0x1234)));
        kms.proposeUpgrade(address(0x1234));
    }

    /// The attack of issue #11 item 5: the KMS owner upgrades to code that allows everything, to
    /// get a compose hash the app merely proposed (or never proposed) past the app's notice.
    function test_kmsUpgradeRacingAppNotice_refusedUntilNoticeElapsed() public {
        AllowAllKms evil = new AllowAllKms();
        bytes32 never = keccak256("never proposed");
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsUpgradeNotProposed.selector, address(evil)));
        kms.upgradeToAndCall(address(evil), "");

        vm.prank(OWNER);
        kms.proposeUpgrade(address(evil));
        vm.warp(at - 1);
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsUpgradeNotReady.selector, address(evil), at));
        kms.upgradeToAndCall(address(evil), "");
        _checkKmsApp(_appBoot(H2, OS1), false, "compose hash pending: notice period not over");
        _checkKmsApp(_appBoot(never, OS1), false, "compose hash not allowed");

        // The guardian saw the proposal for a whole notice period, as long as the app's own.
        vm.prank(GUARDIAN);
        kms.vetoUpgrade();
        vm.warp(at + 1);
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsUpgradeNotProposed.selector, address(evil)));
        kms.upgradeToAndCall(address(evil), "");
        _checkKmsApp(_appBoot(never, OS1), false, "compose hash not allowed");
    }

    /// With a KMS notice shorter than the app's, the app is denied for as long as the shorter
    /// notice could let a change through before the app's own notice would.
    function test_kmsUpgradeRacingAppNotice_shorterKmsNoticeDeniesApp() public {
        KeygateKms k = _newKms(address(appImpl));
        vm.startPrank(OWNER);
        k.addOsImageHash(OS1);
        k.setGovernanceNotice(SHORT, GUARDIAN);
        vm.stopPrank();
        address a = k.deployAndRegisterAppWithNotice(OWNER, false, false, true, bytes32(0), H1, NOTICE, GUARDIAN);
        (bool ok, string memory why) = k.isAppAllowed(_boot(a, H1, DEV1, "UpToDate"));
        _expectDecision(ok, why, false, _shorterReason(SHORT, NOTICE), "app under a shorter KMS notice");
        // The owner's upgrade would land after SHORT, before the app's NOTICE: the app stays denied.
        AllowAllKms evil = new AllowAllKms();
        vm.prank(OWNER);
        k.proposeUpgrade(address(evil));
        vm.warp(T0 + SHORT - 1);
        (ok, why) = k.isAppAllowed(_boot(a, H1, DEV1, "UpToDate"));
        _expectDecision(ok, why, false, _shorterReason(SHORT, NOTICE), "denied while the upgrade is pending");
    }

    // ------------------------------------------------------------ notice changes

    function test_noticeDecrease_waitsForCurrentNotice() public {
        vm.expectEmit(address(kms));
        emit KeygateKms.GovernanceNoticeChangeProposed(0, GUARDIAN, at);
        vm.expectEmit(address(kms));
        emit KeygateKms.PolicyChanged(OWNER, _policy("governance-notice"), bytes32(0), true);
        vm.prank(OWNER);
        kms.setGovernanceNotice(0, GUARDIAN);
        (uint64 p, address g, uint64 pat) = kms.pendingGovernanceNotice();
        assertEq(uint256(p), 0, "pending period");
        assertEq(g, GUARDIAN, "pending guardian");
        assertEq(uint256(pat), at, "pending activation");

        vm.warp(at - 1);
        (p,) = _notice();
        assertEq(uint256(p), NOTICE, "old notice one second before");
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsNoticePeriodActive.selector, NOTICE));
        kms.addOsImageHash(OS2);
        _checkKmsApp(_appBoot(H1, OS1), true, "");

        vm.warp(at);
        (p,) = _notice();
        assertEq(uint256(p), 0, "new notice at activation");
        (,, pat) = kms.pendingGovernanceNotice();
        assertEq(uint256(pat), 0, "nothing pending any more");
        // The time-locked app is denied from the moment the shorter notice is in force.
        _checkKmsApp(_appBoot(H1, OS1), false, _shorterReason(0, NOTICE));
        vm.prank(OWNER);
        kms.addOsImageHash(OS2);
        assertTrue(kms.allowedOsImages(OS2), "one-call path once the notice is zero");
    }

    function test_noticeDecrease_vetoed() public {
        vm.prank(OWNER);
        kms.setGovernanceNotice(0, OWNER); // drop the delay and become its own guardian
        vm.warp(at - 1);
        vm.expectEmit(address(kms));
        emit KeygateKms.GovernanceNoticeChangeVetoed(0, OWNER, GUARDIAN);
        vm.expectEmit(address(kms));
        emit KeygateKms.PolicyChanged(GUARDIAN, _policy("governance-notice"), bytes32(0), false);
        vm.prank(GUARDIAN);
        kms.vetoGovernanceNoticeChange();
        vm.warp(at + 1);
        (uint64 p, address g) = _notice();
        assertEq(uint256(p), NOTICE, "notice kept");
        assertEq(g, GUARDIAN, "guardian kept");
    }

    function test_guardianChange_waits() public {
        vm.prank(OWNER);
        kms.setGovernanceNotice(2 * NOTICE, OWNER); // a longer period does not let the guardian change skip the wait
        (, address g) = _notice();
        assertEq(g, GUARDIAN, "old guardian in force");
        vm.prank(OWNER);
        kms.proposeOsImageHash(OS2);
        vm.warp(at - 1);
        vm.prank(GUARDIAN);
        kms.vetoOsImageHash(OS2); // the current guardian can still veto
        vm.warp(at);
        uint64 p;
        (p, g) = _notice();
        assertEq(uint256(p), 2 * NOTICE, "new period at activation");
        assertEq(g, OWNER, "new guardian at activation");
        vm.prank(GUARDIAN);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsUnauthorizedGuardian.selector, GUARDIAN));
        kms.vetoGovernanceNoticeChange();
    }

    function test_noticeIncrease_isImmediate() public {
        vm.prank(OWNER);
        kms.setGovernanceNotice(SHORT, GUARDIAN); // a pending decrease ...
        vm.expectEmit(address(kms));
        emit KeygateKms.GovernanceNoticeChanged(2 * NOTICE, GUARDIAN);
        vm.prank(OWNER);
        kms.setGovernanceNotice(2 * NOTICE, GUARDIAN); // ... replaced by an immediate increase
        (uint64 p, address g) = _notice();
        assertEq(uint256(p), 2 * NOTICE, "longer period at once");
        assertEq(g, GUARDIAN, "guardian unchanged");
        (,, uint64 pat) = kms.pendingGovernanceNotice();
        assertEq(uint256(pat), 0, "pending decrease dropped");
        vm.warp(at + 1);
        (p,) = _notice();
        assertEq(uint256(p), 2 * NOTICE, "the dropped decrease never activates");
        vm.prank(OWNER);
        kms.proposeOsImageHash(OS2);
        assertEq(uint256(kms.osImageHashActivatesAt(OS2)), at + 1 + 2 * NOTICE, "new proposals wait the longer period");
    }

    function test_setNotice_rejectionsAndAccess() public {
        uint64 tooLong = kms.MAX_NOTICE_PERIOD() + 1;
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsNoticePeriodTooLong.selector, tooLong));
        kms.setGovernanceNotice(tooLong, GUARDIAN);
        bytes memory unauthorized =
            abi.encodeWithSelector(OwnableUpgradeable.OwnableUnauthorizedAccount.selector, STRANGER);
        vm.startPrank(STRANGER);
        vm.expectRevert(unauthorized);
        kms.setGovernanceNotice(0, STRANGER);
        vm.expectRevert(unauthorized);
        kms.proposeOsImageHash(OS2);
        vm.expectRevert(unauthorized);
        kms.proposeKmsAggregatedMr(MR2);
        vm.expectRevert(unauthorized);
        kms.proposeKmsDevice(DEV2);
        vm.expectRevert(unauthorized);
        kms.proposeUpgrade(address(appImpl));
        vm.stopPrank();
    }

    // ------------------------------------------------------------ KMS governance cannot outrun apps

    function test_timeLockedApp_deniedUnderShorterKmsNotice_allowedOnceLongEnough() public {
        KeygateKms k = _newKms(address(appImpl));
        vm.startPrank(OWNER);
        k.addOsImageHash(OS1);
        k.setGovernanceNotice(SHORT, GUARDIAN);
        vm.stopPrank();
        address a = k.deployAndRegisterAppWithNotice(OWNER, false, false, true, bytes32(0), H1, NOTICE, GUARDIAN);
        IAppAuth.AppBootInfo memory b = _boot(a, H1, DEV1, "UpToDate");
        (bool ok, string memory why) = k.isAppAllowed(b);
        _expectDecision(ok, why, false, _shorterReason(SHORT, NOTICE), "shorter KMS notice");
        assertEq(why, "KMS governance notice (86400 s) is shorter than the app's notice (604800 s)", "exact reason");

        vm.prank(OWNER);
        k.setGovernanceNotice(NOTICE, GUARDIAN); // equal is enough; an increase applies at once
        (ok, why) = k.isAppAllowed(b);
        _expectDecision(ok, why, true, "", "KMS notice equal to the app's");

        // An app with a zero notice, or a KMS notice of 0 for a zero-notice app, is not affected.
        KeygateKms plain = _newKms(address(appImpl));
        vm.prank(OWNER);
        plain.addOsImageHash(OS1);
        vm.prank(STRANGER);
        address z = plain.deployAndRegisterApp(OWNER, false, false, true, bytes32(0), H1);
        (ok, why) = plain.isAppAllowed(_boot(z, H1, DEV1, "UpToDate"));
        _expectDecision(ok, why, true, "", "zero-notice app under a zero-notice KMS");
    }

    /// Raising the notice at once must not hide a proposal announced under the shorter notice:
    /// the guarantee stays at the shorter notice until that proposal could have activated.
    function test_noticeIncrease_doesNotHideShorterPendingProposal() public {
        KeygateKms k = _newKms(address(appImpl));
        vm.startPrank(OWNER);
        k.addOsImageHash(OS1);
        k.setGovernanceNotice(SHORT, GUARDIAN);
        k.proposeOsImageHash(OS2); // activates at T0 + SHORT
        k.setGovernanceNotice(NOTICE, GUARDIAN);
        vm.stopPrank();
        address a = k.deployAndRegisterAppWithNotice(OWNER, false, false, true, bytes32(0), H1, NOTICE, GUARDIAN);
        IAppAuth.AppBootInfo memory b = _boot(a, H1, DEV1, "UpToDate");
        (uint64 p,) = k.governanceNotice();
        assertEq(uint256(p), NOTICE, "period raised at once");
        assertEq(uint256(k.guaranteedNotice()), SHORT, "guarantee still the shorter notice");
        (bool ok, string memory why) = k.isAppAllowed(b);
        _expectDecision(ok, why, false, _shorterReason(SHORT, NOTICE), "denied while the short proposal is pending");
        vm.warp(T0 + SHORT - 1);
        (ok, why) = k.isAppAllowed(b);
        _expectDecision(ok, why, false, _shorterReason(SHORT, NOTICE), "one second before it activates");
        vm.warp(T0 + SHORT);
        assertEq(uint256(k.guaranteedNotice()), NOTICE, "full guarantee once it activated");
        (ok, why) = k.isAppAllowed(b);
        _expectDecision(ok, why, true, "", "allowed afterwards");
    }

    function test_dstackStyleApps_unaffectedByKmsNotice() public {
        KeygateKms fresh = _newKms(address(appImpl));
        vm.prank(OWNER);
        fresh.addOsImageHash(OS1);
        address dstackApp = address(new DstackStyleApp());
        address fallbackApp = address(new FallbackApp());
        fresh.registerApp(dstackApp);
        fresh.registerApp(fallbackApp);
        (bool ok, string memory why) = fresh.isAppAllowed(_boot(dstackApp, H1, DEV1, "UpToDate"));
        _expectDecision(ok, why, true, "", "dstack-style app, KMS notice 0");
        (ok, why) = fresh.isAppAllowed(_boot(fallbackApp, H1, DEV1, "UpToDate"));
        _expectDecision(ok, why, true, "", "app with a silent fallback, KMS notice 0");
        // and with a notice on the KMS as well
        kms.registerApp(dstackApp);
        (ok, why) = kms.isAppAllowed(_boot(dstackApp, H1, DEV1, "UpToDate"));
        _expectDecision(ok, why, true, "", "dstack-style app, KMS notice set");
    }

    // ------------------------------------------------------------ storage layout

    /// Version-1 slots stay where they were (0-9); the notice state is appended from slot 10.
    function test_storageLayout_appendOnly() public view {
        assertEq(address(uint160(uint256(vm.load(address(kms), bytes32(uint256(9)))))), address(appImpl), "slot 9");
        bytes32 s10 = vm.load(address(kms), bytes32(uint256(10)));
        assertEq(uint256(s10) & type(uint64).max, NOTICE, "slot 10: notice period");
        assertEq(address(uint160(uint256(s10) >> 64)), GUARDIAN, "slot 10: guardian");
        // _allowedOsImages is still the mapping at slot 8
        bytes32 osSlot = keccak256(abi.encode(OS1, uint256(8)));
        assertEq(uint256(vm.load(address(kms), osSlot)), 1, "slot 8 mapping: OS1 allowed");
        bytes32 mrSlot = keccak256(abi.encode(MR1, uint256(6)));
        assertEq(uint256(vm.load(address(kms), mrSlot)), 1, "slot 6 mapping: MR1 allowed");
    }

    // ------------------------------------------------------------ property: the guarantee is never overstated

    /// @dev Each op word: bits 0-1 kind (set notice, propose, wait, upgrade proposal), bits 8-9 an
    ///      argument. After every op, every proposal still pending was announced with at least
    ///      guaranteedNotice() seconds of notice, and so is any proposal made now.
    function testFuzz_guaranteedNoticeNeverOverstated(uint256[] calldata ops) public {
        uint64[4] memory periods = [uint64(0), 1 hours, 1 days, NOTICE];
        KeygateKms k = _newKms(address(appImpl));
        KeygateKmsV2 v2 = new KeygateKmsV2();
        uint256 n = ops.length > 32 ? 32 : ops.length;
        uint64[] memory leads = new uint64[](n);
        uint64[] memory ends = new uint64[](n);
        uint256 count;
        for (uint256 j = 0; j < n; j++) {
            uint256 kind = ops[j] & 3;
            uint256 arg = (ops[j] >> 8) & 3;
            (uint64 period,) = k.governanceNotice();
            vm.startPrank(OWNER);
            if (kind == 0) {
                k.setGovernanceNotice(periods[arg], GUARDIAN);
            } else if (kind == 1 && period != 0) {
                k.proposeOsImageHash(keccak256(abi.encode(j)));
                (leads[count], ends[count]) = (period, uint64(block.timestamp) + period);
                count++;
            } else if (kind == 2) {
                vm.warp(block.timestamp + uint256(periods[arg]) / 2 + 1);
            } else if (kind == 3 && period != 0) {
                k.proposeUpgrade(address(v2));
                (leads[count], ends[count]) = (period, uint64(block.timestamp) + period);
                count++;
            }
            vm.stopPrank();
            uint64 g = k.guaranteedNotice();
            (period,) = k.governanceNotice();
            assertTrue(g <= period, "guarantee above the period new proposals get");
            for (uint256 q = 0; q < count; q++) {
                if (block.timestamp < ends[q]) assertTrue(leads[q] >= g, "pending proposal with a shorter notice");
            }
        }
    }
}
