// SPDX-License-Identifier: Apache-2.0
// UpgradeNotice.t - time-locked compose hashes, upgrades and notice changes, with guardian veto, at the boundaries.
pragma solidity ^0.8.24;

import {OwnableUpgradeable} from "@openzeppelin/contracts-upgradeable/access/OwnableUpgradeable.sol";

import {Fixture} from "./Fixture.sol";
import {KeygateApp} from "../src/KeygateApp.sol";
import {KeygateAppV2} from "./mocks/Mocks.sol";

contract UpgradeNoticeTest is Fixture {
    KeygateApp internal app;
    uint64 internal activatesAt; // of H2, proposed in setUp

    function setUp() public {
        vm.warp(T0);
        app = _newNoticeApp(NOTICE, GUARDIAN);
        vm.prank(OWNER);
        app.proposeComposeHash(H2);
        activatesAt = T0 + NOTICE;
    }

    function _stateOf(bytes32 h) internal view returns (uint256) {
        return uint256(app.composeHashState(h));
    }

    // ------------------------------------------------------------ setup facts

    function test_initialNotice() public view {
        (uint64 period, address g) = app.upgradeNotice();
        assertEq(uint256(period), NOTICE, "period");
        assertEq(g, GUARDIAN, "guardian");
        assertTrue(app.allowedComposeHashes(H1), "initial hash allowed at once");
    }

    function test_initializeWithNotice_emitsNotice() public {
        vm.expectEmit(true, true, true, true);
        emit KeygateApp.UpgradeNoticeChanged(NOTICE, GUARDIAN);
        _newNoticeApp(NOTICE, GUARDIAN);
    }

    // ------------------------------------------------------------ compose hash proposals

    function test_addComposeHash_refusedUnderNotice() public {
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppNoticePeriodActive.selector, NOTICE));
        app.addComposeHash(keccak256("v3"));
    }

    function test_propose_emits() public {
        bytes32 h3 = keccak256("v3");
        vm.expectEmit(address(app));
        emit KeygateApp.ComposeHashProposed(h3, T0 + NOTICE);
        vm.expectEmit(address(app));
        emit KeygateApp.PolicyChanged(OWNER, _policy("compose-hash-proposal"), h3, true);
        vm.prank(OWNER);
        app.proposeComposeHash(h3);
        assertEq(uint256(app.composeHashActivatesAt(h3)), T0 + NOTICE, "activation time");
    }

    function test_proposed_deniedOneSecondBefore() public {
        vm.warp(activatesAt - 1);
        assertEq(_stateOf(H2), uint256(KeygateApp.ComposeHashState.Pending), "pending");
        assertFalse(app.allowedComposeHashes(H2), "not allowed yet");
        _checkApp(app, _boot(address(app), H2, DEV1, "UpToDate"), false, "compose hash pending: notice period not over");
    }

    function test_proposed_allowedAtActivation() public {
        vm.warp(activatesAt);
        assertEq(_stateOf(H2), uint256(KeygateApp.ComposeHashState.Allowed), "allowed");
        assertTrue(app.allowedComposeHashes(H2), "allowed getter");
        _checkApp(app, _boot(address(app), H2, DEV1, "UpToDate"), true, "");
    }

    function test_proposed_allowedOneSecondAfter() public {
        vm.warp(activatesAt + 1);
        _checkApp(app, _boot(address(app), H2, DEV1, "UpToDate"), true, "");
    }

    function test_propose_refusedWhenPendingOrAllowed() public {
        vm.startPrank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppComposeHashAlreadyPending.selector, H2, activatesAt));
        app.proposeComposeHash(H2);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppComposeHashAlreadyAllowed.selector, H1));
        app.proposeComposeHash(H1);
        vm.warp(activatesAt);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppComposeHashAlreadyAllowed.selector, H2));
        app.proposeComposeHash(H2);
        vm.stopPrank();
    }

    function test_propose_refusedWithoutNotice() public {
        KeygateApp plain = _newApp(false, true, bytes32(0), H1);
        vm.prank(OWNER);
        vm.expectRevert(KeygateApp.AppNoNoticePeriod.selector);
        plain.proposeComposeHash(H2);
    }

    function test_veto_oneSecondBeforeActivation() public {
        vm.warp(activatesAt - 1);
        vm.expectEmit(address(app));
        emit KeygateApp.ComposeHashVetoed(H2, GUARDIAN);
        vm.expectEmit(address(app));
        emit KeygateApp.PolicyChanged(GUARDIAN, _policy("compose-hash-proposal"), H2, false);
        vm.prank(GUARDIAN);
        app.vetoComposeHash(H2);
        assertEq(_stateOf(H2), uint256(KeygateApp.ComposeHashState.None), "gone");
        vm.warp(activatesAt + 1);
        _checkApp(app, _boot(address(app), H2, DEV1, "UpToDate"), false, "compose hash not allowed");
    }

    function test_veto_tooLateAtActivation() public {
        vm.warp(activatesAt);
        vm.prank(GUARDIAN);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppComposeHashNotPending.selector, H2));
        app.vetoComposeHash(H2);
        assertTrue(app.allowedComposeHashes(H2), "stays allowed");
    }

    function test_veto_refusedForUnknownHash() public {
        vm.prank(GUARDIAN);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppComposeHashNotPending.selector, keccak256("nope")));
        app.vetoComposeHash(keccak256("nope"));
        vm.prank(GUARDIAN);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppComposeHashNotPending.selector, H1));
        app.vetoComposeHash(H1);
    }

    function test_veto_onlyGuardian() public {
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppUnauthorizedGuardian.selector, OWNER));
        app.vetoComposeHash(H2);
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppUnauthorizedGuardian.selector, STRANGER));
        app.vetoComposeHash(H2);
        assertEq(_stateOf(H2), uint256(KeygateApp.ComposeHashState.Pending), "still pending");
    }

    function test_veto_nobodyWithoutGuardian() public {
        KeygateApp a = _newNoticeApp(NOTICE, address(0));
        vm.prank(OWNER);
        a.proposeComposeHash(H2);
        vm.prank(address(0));
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppUnauthorizedGuardian.selector, address(0)));
        a.vetoComposeHash(H2);
        vm.warp(activatesAt);
        assertTrue(a.allowedComposeHashes(H2), "activates without a guardian");
    }

    function test_remove_isImmediateForPendingAndAllowed() public {
        vm.startPrank(OWNER);
        app.removeComposeHash(H2);
        app.removeComposeHash(H1);
        vm.stopPrank();
        _checkApp(app, _boot(address(app), H1, DEV1, "UpToDate"), false, "compose hash not allowed");
        vm.warp(activatesAt + 1);
        _checkApp(app, _boot(address(app), H2, DEV1, "UpToDate"), false, "compose hash not allowed");
    }

    function test_reproposeAfterVeto_restartsTheClock() public {
        vm.warp(activatesAt - 1);
        vm.prank(GUARDIAN);
        app.vetoComposeHash(H2);
        vm.prank(OWNER);
        app.proposeComposeHash(H2);
        assertEq(uint256(app.composeHashActivatesAt(H2)), activatesAt - 1 + NOTICE, "new full notice");
        vm.warp(activatesAt + 1);
        assertEq(_stateOf(H2), uint256(KeygateApp.ComposeHashState.Pending), "pending again");
    }

    // ------------------------------------------------------------ notice changes cannot skip the delay

    function test_shortenNotice_waitsForCurrentNotice() public {
        uint64 at = T0 + NOTICE;
        vm.expectEmit(address(app));
        emit KeygateApp.UpgradeNoticeChangeProposed(0, GUARDIAN, at);
        vm.prank(OWNER);
        app.setUpgradeNotice(0, GUARDIAN);

        (uint64 p, address g, uint64 pat) = app.pendingUpgradeNotice();
        assertEq(uint256(p), 0, "pending period");
        assertEq(g, GUARDIAN, "pending guardian");
        assertEq(uint256(pat), at, "pending activation");

        vm.warp(at - 1);
        (p,) = app.upgradeNotice();
        assertEq(uint256(p), NOTICE, "old notice one second before");
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppNoticePeriodActive.selector, NOTICE));
        app.addComposeHash(keccak256("v3"));

        vm.warp(at);
        (p,) = app.upgradeNotice();
        assertEq(uint256(p), 0, "new notice at activation");
        (,, pat) = app.pendingUpgradeNotice();
        assertEq(uint256(pat), 0, "nothing pending any more");
        vm.prank(OWNER);
        app.addComposeHash(keccak256("v3"));
        assertTrue(app.allowedComposeHashes(keccak256("v3")), "immediate path once notice is zero");
    }

    function test_noticeChange_vetoOneSecondBefore() public {
        uint64 at = T0 + NOTICE;
        vm.prank(OWNER);
        app.setUpgradeNotice(0, OWNER); // owner tries to drop the delay and become its own guardian
        vm.warp(at - 1);
        vm.expectEmit(address(app));
        emit KeygateApp.UpgradeNoticeChangeVetoed(0, OWNER, GUARDIAN);
        vm.prank(GUARDIAN);
        app.vetoUpgradeNoticeChange();
        vm.warp(at + 1);
        (uint64 p, address g) = app.upgradeNotice();
        assertEq(uint256(p), NOTICE, "notice kept");
        assertEq(g, GUARDIAN, "guardian kept");
    }

    function test_noticeChange_vetoTooLateAtActivation() public {
        vm.prank(OWNER);
        app.setUpgradeNotice(1 days, NEW_OWNER);
        vm.warp(T0 + NOTICE);
        // The new guardian is in force now, and nothing is pending for it to veto.
        vm.prank(NEW_OWNER);
        vm.expectRevert(KeygateApp.AppNoPendingNoticeChange.selector);
        app.vetoUpgradeNoticeChange();
        vm.prank(GUARDIAN);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppUnauthorizedGuardian.selector, GUARDIAN));
        app.vetoUpgradeNoticeChange();
        (uint64 p, address g) = app.upgradeNotice();
        assertEq(uint256(p), 1 days, "new period");
        assertEq(g, NEW_OWNER, "new guardian");
    }

    function test_noticeChange_vetoWithNothingPending() public {
        vm.prank(GUARDIAN);
        vm.expectRevert(KeygateApp.AppNoPendingNoticeChange.selector);
        app.vetoUpgradeNoticeChange();
    }

    function test_noticeChange_newProposalRestartsClock() public {
        vm.prank(OWNER);
        app.setUpgradeNotice(0, GUARDIAN);
        vm.warp(T0 + NOTICE - 1);
        vm.prank(OWNER);
        app.setUpgradeNotice(1 hours, GUARDIAN);
        vm.warp(T0 + NOTICE);
        (uint64 p,) = app.upgradeNotice();
        assertEq(uint256(p), NOTICE, "replaced proposal does not activate");
        vm.warp(T0 + 2 * NOTICE - 1);
        (p,) = app.upgradeNotice();
        assertEq(uint256(p), 1 hours, "second proposal after its own full notice");
    }

    function test_noticeChange_settlesBeforeNextProposal() public {
        vm.prank(OWNER);
        app.setUpgradeNotice(1 days, GUARDIAN);
        vm.warp(T0 + NOTICE);
        // The first change is in force, so the next one waits the new (shorter) period.
        vm.expectEmit(address(app));
        emit KeygateApp.UpgradeNoticeChangeProposed(2 days, GUARDIAN, T0 + NOTICE + 1 days);
        vm.prank(OWNER);
        app.setUpgradeNotice(2 days, GUARDIAN);
    }

    function test_setNotice_immediateWithoutNotice() public {
        KeygateApp plain = _newApp(false, true, bytes32(0), H1);
        vm.expectEmit(address(plain));
        emit KeygateApp.UpgradeNoticeChanged(NOTICE, GUARDIAN);
        vm.expectEmit(address(plain));
        emit KeygateApp.PolicyChanged(OWNER, _policy("upgrade-notice"), bytes32(uint256(NOTICE)), true);
        vm.prank(OWNER);
        plain.setUpgradeNotice(NOTICE, GUARDIAN);
        (uint64 p, address g) = plain.upgradeNotice();
        assertEq(uint256(p), NOTICE, "period at once");
        assertEq(g, GUARDIAN, "guardian at once");
    }

    function test_setNotice_rejectsTooLong() public {
        uint64 tooLong = app.MAX_NOTICE_PERIOD() + 1;
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppNoticePeriodTooLong.selector, tooLong));
        app.setUpgradeNotice(tooLong, GUARDIAN);
    }

    function test_noticeFunctions_access() public {
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(OwnableUpgradeable.OwnableUnauthorizedAccount.selector, STRANGER));
        app.setUpgradeNotice(0, STRANGER);
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppUnauthorizedGuardian.selector, STRANGER));
        app.vetoUpgradeNoticeChange();
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppUnauthorizedGuardian.selector, STRANGER));
        app.vetoUpgrade();
    }

    // ------------------------------------------------------------ implementation upgrades under notice

    function test_upgrade_requiresProposal() public {
        KeygateAppV2 v2 = new KeygateAppV2();
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppUpgradeNotProposed.selector, address(v2)));
        app.upgradeToAndCall(address(v2), "");
    }

    function test_upgrade_boundaries() public {
        KeygateAppV2 v2 = new KeygateAppV2();
        uint64 at = T0 + NOTICE;
        vm.expectEmit(address(app));
        emit KeygateApp.UpgradeProposed(address(v2), at);
        vm.expectEmit(address(app));
        emit KeygateApp.PolicyChanged(OWNER, _policy("upgrade-proposal"), bytes32(uint256(uint160(address(v2)))), true);
        vm.prank(OWNER);
        app.proposeUpgrade(address(v2));
        (address impl, uint64 pat) = app.pendingUpgrade();
        assertEq(impl, address(v2), "pending implementation");
        assertEq(uint256(pat), at, "pending activation");

        vm.warp(at - 1);
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppUpgradeNotReady.selector, address(v2), at));
        app.upgradeToAndCall(address(v2), "");

        vm.warp(at);
        vm.prank(OWNER);
        app.upgradeToAndCall(address(v2), "");
        assertEq(app.version(), 2, "upgraded at activation");
        assertEq(_implementationOf(address(app)), address(v2), "slot");
        (impl, pat) = app.pendingUpgrade();
        assertEq(impl, address(0), "proposal consumed");
        // Storage survived, including the pending compose hash and the notice.
        assertEq(uint256(app.composeHashActivatesAt(H2)), activatesAt, "proposal kept");
        (uint64 p, address g) = app.upgradeNotice();
        assertEq(uint256(p), NOTICE, "notice kept");
        assertEq(g, GUARDIAN, "guardian kept");
    }

    function test_upgrade_oneSecondAfterActivation() public {
        KeygateAppV2 v2 = new KeygateAppV2();
        vm.prank(OWNER);
        app.proposeUpgrade(address(v2));
        vm.warp(T0 + NOTICE + 1);
        vm.prank(OWNER);
        app.upgradeToAndCall(address(v2), "");
        assertEq(app.version(), 2, "upgraded after activation");
    }

    function test_upgrade_onlyTheProposedImplementation() public {
        KeygateAppV2 v2 = new KeygateAppV2();
        KeygateAppV2 other = new KeygateAppV2();
        vm.prank(OWNER);
        app.proposeUpgrade(address(v2));
        vm.warp(T0 + NOTICE);
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppUpgradeNotProposed.selector, address(other)));
        app.upgradeToAndCall(address(other), "");
    }

    function test_upgradeVeto_boundaries() public {
        KeygateAppV2 v2 = new KeygateAppV2();
        vm.prank(OWNER);
        app.proposeUpgrade(address(v2));
        vm.warp(T0 + NOTICE - 1);
        vm.expectEmit(address(app));
        emit KeygateApp.UpgradeVetoed(address(v2), GUARDIAN);
        vm.prank(GUARDIAN);
        app.vetoUpgrade();
        vm.warp(T0 + NOTICE);
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppUpgradeNotProposed.selector, address(v2)));
        app.upgradeToAndCall(address(v2), "");

        vm.prank(OWNER);
        app.proposeUpgrade(address(v2));
        vm.warp(T0 + 2 * NOTICE);
        vm.prank(GUARDIAN);
        vm.expectRevert(KeygateApp.AppNoPendingUpgrade.selector);
        app.vetoUpgrade(); // at activation the veto window is over
    }

    function test_upgradeVeto_nothingPending() public {
        vm.prank(GUARDIAN);
        vm.expectRevert(KeygateApp.AppNoPendingUpgrade.selector);
        app.vetoUpgrade();
    }

    function test_proposeUpgrade_rejections() public {
        vm.startPrank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppInvalidImplementation.selector, address(0x1234)));
        app.proposeUpgrade(address(0x1234));
        app.disableUpgrades();
        vm.expectRevert(KeygateApp.AppUpgradesAreDisabled.selector);
        app.proposeUpgrade(address(appImpl));
        vm.stopPrank();

        KeygateApp plain = _newApp(false, true, bytes32(0), H1);
        vm.prank(OWNER);
        vm.expectRevert(KeygateApp.AppNoNoticePeriod.selector);
        plain.proposeUpgrade(address(appImpl));
    }

    function test_disableUpgrades_dropsPendingUpgrade() public {
        KeygateAppV2 v2 = new KeygateAppV2();
        vm.startPrank(OWNER);
        app.proposeUpgrade(address(v2));
        app.disableUpgrades();
        vm.stopPrank();
        (address impl,) = app.pendingUpgrade();
        assertEq(impl, address(0), "pending dropped");
        vm.warp(T0 + NOTICE);
        vm.prank(OWNER);
        vm.expectRevert(KeygateApp.AppUpgradesAreDisabled.selector);
        app.upgradeToAndCall(address(v2), "");
    }
}
