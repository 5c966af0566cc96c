// SPDX-License-Identifier: Apache-2.0
// GuardianEscape.t - governance liveness: an owner escapes a guardian that vetoes everything, its own
// replacement included, after twice the notice, and still never skips the notice for code changes
// (KeygateApp and KeygateKms).
pragma solidity ^0.8.24;

import {OwnableUpgradeable} from "@openzeppelin/contracts-upgradeable/access/OwnableUpgradeable.sol";

import {Fixture} from "./Fixture.sol";
import {IAppAuth} from "../src/IAppAuth.sol";
import {KeygateApp} from "../src/KeygateApp.sol";
import {KeygateKms} from "../src/KeygateKms.sol";
import {KeygateAppV2, KeygateKmsV2} from "./mocks/Mocks.sol";

contract AppGuardianEscapeTest is Fixture {
    address internal constant NEW_GUARDIAN = address(0x6A50);
    bytes32 internal constant H3 = keccak256("app-compose v3");

    KeygateApp internal app;
    KeygateAppV2 internal v2;

    function setUp() public {
        vm.warp(T0);
        app = _newNoticeApp(NOTICE, GUARDIAN);
        v2 = new KeygateAppV2();
    }

    /// @dev The hostile guardian vetoes a compose hash, an upgrade and its own replacement.
    function _freeze() internal {
        vm.startPrank(OWNER);
        app.proposeComposeHash(H2);
        app.proposeUpgrade(address(v2));
        app.setUpgradeNotice(NOTICE, NEW_GUARDIAN);
        vm.stopPrank();
        vm.startPrank(GUARDIAN);
        app.vetoComposeHash(H2);
        app.vetoUpgrade();
        app.vetoUpgradeNoticeChange();
        vm.stopPrank();
        (uint64 p, address g) = app.upgradeNotice();
        assertEq(uint256(p), NOTICE, "period");
        assertEq(g, GUARDIAN, "frozen: the guardian stays");
    }

    function test_hostileGuardianFreeze_isEscaped() public {
        _freeze();
        uint64 escapeAt = T0 + 2 * NOTICE;
        vm.expectEmit(address(app));
        emit KeygateApp.GuardianEscapeProposed(GUARDIAN, NEW_GUARDIAN, escapeAt);
        vm.expectEmit(address(app));
        emit KeygateApp.PolicyChanged(OWNER, _policy("guardian-escape"), bytes32(uint256(uint160(NEW_GUARDIAN))), true);
        vm.prank(OWNER);
        app.escapeGuardian(NEW_GUARDIAN);
        (address ng, uint64 at) = app.pendingGuardianEscape();
        assertEq(ng, NEW_GUARDIAN, "pending escape: guardian");
        assertEq(uint256(at), escapeAt, "pending escape: time");
        (uint64 pp, address pg, uint64 pat) = app.pendingUpgradeNotice();
        assertEq(uint256(pp), NOTICE, "the escape keeps the period");
        assertEq(pg, NEW_GUARDIAN, "pending notice: guardian");
        assertEq(uint256(pat), escapeAt, "pending notice: time");

        // The guardian cannot veto it, now or one second before it lands.
        vm.prank(GUARDIAN);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppGuardianEscapeNotVetoable.selector, escapeAt));
        app.vetoUpgradeNoticeChange();
        vm.warp(escapeAt - 1);
        vm.prank(GUARDIAN);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppGuardianEscapeNotVetoable.selector, escapeAt));
        app.vetoUpgradeNoticeChange();
        (, address g) = app.upgradeNotice();
        assertEq(g, GUARDIAN, "old guardian in office until twice the notice");

        vm.warp(escapeAt);
        uint64 p;
        (p, g) = app.upgradeNotice();
        assertEq(uint256(p), NOTICE, "period unchanged");
        assertEq(g, NEW_GUARDIAN, "new guardian in office");
        (ng, at) = app.pendingGuardianEscape();
        assertEq(ng, address(0), "no escape pending any more");
        assertEq(uint256(at), 0, "no escape time any more");

        // The app lives again: the owner ships a hash and an upgrade, each after its full notice.
        vm.startPrank(OWNER);
        app.proposeComposeHash(H3);
        app.proposeUpgrade(address(v2));
        vm.stopPrank();
        vm.prank(GUARDIAN);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppUnauthorizedGuardian.selector, GUARDIAN));
        app.vetoComposeHash(H3);
        vm.prank(GUARDIAN);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppUnauthorizedGuardian.selector, GUARDIAN));
        app.vetoUpgrade();

        vm.warp(escapeAt + NOTICE - 1);
        _checkApp(app, _boot(address(app), H3, DEV1, "UpToDate"), false, "compose hash pending: notice period not over");
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppUpgradeNotReady.selector, address(v2), escapeAt + NOTICE));
        app.upgradeToAndCall(address(v2), "");

        vm.warp(escapeAt + NOTICE);
        _checkApp(app, _boot(address(app), H3, DEV1, "UpToDate"), true, "");
        vm.prank(OWNER);
        app.upgradeToAndCall(address(v2), "");
        assertEq(_implementationOf(address(app)), address(v2), "upgraded");
        assertEq(app.version(), 2, "version 2");
    }

    /// A compromised owner announcing the escape together with malicious code gains nothing:
    /// the code waits its whole notice, and the old guardian can veto it all along.
    function test_escape_doesNotSkipTheNotice() public {
        vm.startPrank(OWNER);
        app.escapeGuardian(OWNER);
        app.proposeComposeHash(H2);
        app.proposeUpgrade(address(v2));
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppUpgradeNotReady.selector, address(v2), T0 + NOTICE));
        app.upgradeToAndCall(address(v2), "");
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppNoticePeriodActive.selector, NOTICE));
        app.addComposeHash(H3);
        vm.stopPrank();
        vm.warp(T0 + NOTICE - 1);
        vm.startPrank(GUARDIAN);
        app.vetoComposeHash(H2);
        app.vetoUpgrade();
        vm.stopPrank();

        // After the escape the owner is its own guardian, but the notice still holds.
        vm.warp(T0 + 2 * NOTICE);
        (uint64 p, address g) = app.upgradeNotice();
        assertEq(uint256(p), NOTICE, "period unchanged");
        assertEq(g, OWNER, "owner guards itself");
        _checkApp(app, _boot(address(app), H2, DEV1, "UpToDate"), false, "compose hash not allowed");
        vm.startPrank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppUpgradeNotProposed.selector, address(v2)));
        app.upgradeToAndCall(address(v2), "");
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppNoticePeriodActive.selector, NOTICE));
        app.addComposeHash(H2);
        app.proposeComposeHash(H2);
        vm.stopPrank();
        vm.warp(T0 + 3 * NOTICE - 1);
        _checkApp(app, _boot(address(app), H2, DEV1, "UpToDate"), false, "compose hash pending: notice period not over");
        vm.warp(T0 + 3 * NOTICE);
        _checkApp(app, _boot(address(app), H2, DEV1, "UpToDate"), true, "");
    }

    function test_escape_refusals() public {
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(OwnableUpgradeable.OwnableUnauthorizedAccount.selector, STRANGER));
        app.escapeGuardian(STRANGER);
        vm.prank(GUARDIAN);
        vm.expectRevert(abi.encodeWithSelector(OwnableUpgradeable.OwnableUnauthorizedAccount.selector, GUARDIAN));
        app.escapeGuardian(GUARDIAN);

        KeygateApp plain = _newApp(false, true, bytes32(0), H1);
        vm.prank(OWNER);
        vm.expectRevert(KeygateApp.AppNoNoticePeriod.selector);
        plain.escapeGuardian(NEW_GUARDIAN);

        KeygateApp unguarded = _newNoticeApp(NOTICE, address(0));
        vm.prank(OWNER);
        vm.expectRevert(KeygateApp.AppNoGuardian.selector);
        unguarded.escapeGuardian(NEW_GUARDIAN);
        (address ng,) = app.pendingGuardianEscape();
        assertEq(ng, address(0), "nothing pending");
    }

    /// An escape replaces a pending (vetoable) notice change; an ordinary change replaces a
    /// pending escape and is vetoable again: the flag never outlives its proposal.
    function test_escape_andOrdinaryChangeReplaceEachOther() public {
        vm.startPrank(OWNER);
        app.setUpgradeNotice(1 days, GUARDIAN);
        app.escapeGuardian(NEW_GUARDIAN);
        (uint64 pp, address pg, uint64 pat) = app.pendingUpgradeNotice();
        assertEq(uint256(pp), NOTICE, "escape replaced the shorter period");
        assertEq(pg, NEW_GUARDIAN, "escape guardian");
        assertEq(uint256(pat), T0 + 2 * NOTICE, "escape time");
        app.setUpgradeNotice(NOTICE, address(0x6A51));
        vm.stopPrank();
        (address ng,) = app.pendingGuardianEscape();
        assertEq(ng, address(0), "escape replaced");
        vm.prank(GUARDIAN);
        app.vetoUpgradeNoticeChange();
        (pp, pg, pat) = app.pendingUpgradeNotice();
        assertEq(uint256(pat), 0, "vetoed");

        // A matured escape is folded in; the next ordinary change is vetoable by the new guardian.
        vm.prank(OWNER);
        app.escapeGuardian(NEW_GUARDIAN);
        vm.warp(T0 + 2 * NOTICE);
        vm.prank(OWNER);
        app.setUpgradeNotice(1 days, OWNER);
        vm.prank(NEW_GUARDIAN);
        app.vetoUpgradeNoticeChange();
        (uint64 p, address g) = app.upgradeNotice();
        assertEq(uint256(p), NOTICE, "period");
        assertEq(g, NEW_GUARDIAN, "guardian");
    }

    /// The app's escape flag packs into slot 9 beside the "OutOfDate" grace end, which it leaves intact.
    function test_storageLayout_escapeFlagPacksIntoSlot9() public {
        vm.startPrank(OWNER);
        app.setOutOfDateGracePeriod(1 days);
        app.escapeGuardian(NEW_GUARDIAN);
        vm.stopPrank();
        uint256 s9 = uint256(vm.load(address(app), bytes32(uint256(9))));
        assertEq(s9 & type(uint64).max, T0 + 1 days, "slot 9: grace end");
        assertEq((s9 >> 64) & 0xff, 1, "slot 9, byte 8: escape pending");
        assertEq(uint256(app.outOfDateGraceUntil()), T0 + 1 days, "grace getter");
    }

    /// For any notice period and any time, the guardian changes exactly at twice the period.
    function testFuzz_escapeLandsAtTwiceTheNotice(uint64 period, uint64 dt) public {
        period = uint64(bound(period, 1, app.MAX_NOTICE_PERIOD()));
        dt = uint64(bound(dt, 0, 4 * uint256(period)));
        KeygateApp a = _newNoticeApp(period, GUARDIAN);
        vm.prank(OWNER);
        a.escapeGuardian(NEW_GUARDIAN);
        vm.warp(T0 + dt);
        (uint64 p, address g) = a.upgradeNotice();
        assertEq(uint256(p), period, "period never changes");
        assertEq(g, dt >= 2 * uint256(period) ? NEW_GUARDIAN : GUARDIAN, "guardian at t");
    }
}

contract KmsGuardianEscapeTest is Fixture {
    address internal constant NEW_GUARDIAN = address(0x6A50);
    bytes32 internal constant OS2 = keccak256("os image 2");

    KeygateKms internal kms;
    KeygateApp internal app; // time-locked like the KMS (NOTICE)
    KeygateKmsV2 internal v2;

    function setUp() public {
        vm.warp(T0);
        appImpl = new KeygateApp();
        kms = _newKms(address(appImpl));
        vm.startPrank(OWNER);
        kms.addOsImageHash(OS1);
        kms.addKmsAggregatedMr(MR1);
        kms.addKmsDevice(DEV1);
        kms.setGovernanceNotice(NOTICE, GUARDIAN);
        vm.stopPrank();
        app =
            KeygateApp(kms.deployAndRegisterAppWithNotice(OWNER, false, false, true, bytes32(0), H1, NOTICE, GUARDIAN));
        v2 = new KeygateKmsV2();
    }

    function _appBoot(bytes32 os) internal view returns (IAppAuth.AppBootInfo memory b) {
        b = _boot(address(app), H1, DEV1, "UpToDate");
        b.osImageHash = os;
    }

    function _checkKmsApp(IAppAuth.AppBootInfo memory b, bool want, string memory reason) internal view {
        (bool ok, string memory why) = kms.isAppAllowed(b);
        _expectDecision(ok, why, want, reason, reason);
    }

    function test_hostileGuardianFreeze_isEscaped() public {
        vm.startPrank(OWNER);
        kms.proposeOsImageHash(OS2);
        kms.proposeUpgrade(address(v2));
        kms.setGovernanceNotice(NOTICE, NEW_GUARDIAN);
        vm.stopPrank();
        vm.startPrank(GUARDIAN);
        kms.vetoOsImageHash(OS2);
        kms.vetoUpgrade();
        kms.vetoGovernanceNoticeChange();
        vm.stopPrank();

        uint64 escapeAt = T0 + 2 * NOTICE;
        vm.expectEmit(address(kms));
        emit KeygateKms.GuardianEscapeProposed(GUARDIAN, NEW_GUARDIAN, escapeAt);
        vm.expectEmit(address(kms));
        emit KeygateKms.PolicyChanged(OWNER, _policy("guardian-escape"), bytes32(uint256(uint160(NEW_GUARDIAN))), true);
        vm.prank(OWNER);
        kms.escapeGuardian(NEW_GUARDIAN);
        (address ng, uint64 at) = kms.pendingGuardianEscape();
        assertEq(ng, NEW_GUARDIAN, "pending escape: guardian");
        assertEq(uint256(at), escapeAt, "pending escape: time");
        // The period, hence what apps are promised, does not move: the app stays served.
        assertEq(uint256(kms.guaranteedNotice()), NOTICE, "guarantee unchanged");
        _checkKmsApp(_appBoot(OS1), true, "");

        vm.warp(escapeAt - 1);
        vm.prank(GUARDIAN);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsGuardianEscapeNotVetoable.selector, escapeAt));
        kms.vetoGovernanceNoticeChange();
        (, address g) = kms.governanceNotice();
        assertEq(g, GUARDIAN, "old guardian in office until twice the notice");

        vm.warp(escapeAt);
        uint64 p;
        (p, g) = kms.governanceNotice();
        assertEq(uint256(p), NOTICE, "period unchanged");
        assertEq(g, NEW_GUARDIAN, "new guardian in office");
        assertEq(uint256(kms.guaranteedNotice()), NOTICE, "guarantee unchanged");

        vm.startPrank(OWNER);
        kms.proposeOsImageHash(OS2);
        kms.proposeUpgrade(address(v2));
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsNoticePeriodActive.selector, NOTICE));
        kms.addOsImageHash(OS2);
        vm.stopPrank();
        vm.prank(GUARDIAN);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsUnauthorizedGuardian.selector, GUARDIAN));
        kms.vetoOsImageHash(OS2);

        vm.warp(escapeAt + NOTICE - 1);
        _checkKmsApp(_appBoot(OS2), false, "os image not allowed");
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsUpgradeNotReady.selector, address(v2), escapeAt + NOTICE));
        kms.upgradeToAndCall(address(v2), "");

        vm.warp(escapeAt + NOTICE);
        _checkKmsApp(_appBoot(OS2), true, "");
        vm.prank(OWNER);
        kms.upgradeToAndCall(address(v2), "");
        assertEq(kms.version(), 2, "version 2");
    }

    function test_escape_refusals() public {
        vm.prank(GUARDIAN);
        vm.expectRevert(abi.encodeWithSelector(OwnableUpgradeable.OwnableUnauthorizedAccount.selector, GUARDIAN));
        kms.escapeGuardian(GUARDIAN);

        KeygateKms fresh = _newKms(address(appImpl));
        vm.prank(OWNER);
        vm.expectRevert(KeygateKms.KmsNoNoticePeriod.selector);
        fresh.escapeGuardian(NEW_GUARDIAN);
        vm.startPrank(OWNER);
        fresh.setGovernanceNotice(NOTICE, address(0));
        vm.expectRevert(KeygateKms.KmsNoGuardian.selector);
        fresh.escapeGuardian(NEW_GUARDIAN);
        vm.stopPrank();
    }

    /// A longer notice with the same guardian applies at once and drops a pending escape.
    function test_escape_droppedByImmediateIncrease() public {
        vm.startPrank(OWNER);
        kms.escapeGuardian(NEW_GUARDIAN);
        kms.setGovernanceNotice(2 * NOTICE, GUARDIAN);
        vm.stopPrank();
        (address ng,) = kms.pendingGuardianEscape();
        assertEq(ng, address(0), "escape dropped");
        vm.warp(T0 + 4 * NOTICE);
        (uint64 p, address g) = kms.governanceNotice();
        assertEq(uint256(p), 2 * NOTICE, "period");
        assertEq(g, GUARDIAN, "guardian kept");
    }

    /// The escape flag is appended at slot 17, after the version-2 notice state.
    function test_storageLayout_escapeFlagAppended() public {
        assertEq(uint256(vm.load(address(kms), bytes32(uint256(17)))), 0, "slot 17 clear");
        vm.prank(OWNER);
        kms.escapeGuardian(NEW_GUARDIAN);
        assertEq(uint256(vm.load(address(kms), bytes32(uint256(17)))), 1, "slot 17: escape pending");
        bytes32 s11 = vm.load(address(kms), bytes32(uint256(11)));
        assertEq(address(uint160(uint256(s11) >> 64)), NEW_GUARDIAN, "slot 11: pending guardian");
    }
}
