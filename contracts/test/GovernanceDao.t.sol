// SPDX-License-Identifier: Apache-2.0
// GovernanceDao - real governance contracts as owners: a 2-of-3 Safe 1.4.1 (npm artifacts) and an
// OpenZeppelin Governor + TimelockController + ERC20Votes token, with a guardian veto, and the KMS
// contract following each decision; plus the per-app TCB policy (advisory lists, OutOfDate grace).
pragma solidity ^0.8.24;

import {ERC1967Proxy} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {IGovernor} from "@openzeppelin/contracts/governance/IGovernor.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

import {Fixture} from "./Fixture.sol";
import {SafeKit, ISafe} from "./utils/SafeKit.sol";
import {DaoToken} from "./dao/DaoToken.sol";
import {DaoGovernor} from "./dao/DaoGovernor.sol";
import {KeygateAppV2} from "./mocks/Mocks.sol";
import {IAppAuth} from "../src/IAppAuth.sol";
import {KeygateApp} from "../src/KeygateApp.sol";
import {KeygateKms} from "../src/KeygateKms.sol";

/// @notice A KMS with a 30-day notice (as `keygate devnet up` sets) whose OS image is allowed.
abstract contract DaoFixture is Fixture, SafeKit {
    uint64 internal constant KMS_NOTICE = 30 days;
    KeygateKms internal kms;

    function _setUpKms() internal {
        vm.warp(T0);
        appImpl = new KeygateApp();
        kms = _newKms(address(appImpl));
        vm.startPrank(OWNER);
        kms.addOsImageHash(OS1);
        kms.setGovernanceNotice(KMS_NOTICE, GUARDIAN);
        vm.stopPrank();
    }

    /// @dev An app deployed by the KMS factory for `owner` with the given notice and guardian.
    function _deployApp(address owner, uint64 notice, address guardian) internal returns (KeygateApp) {
        return
            KeygateApp(kms.deployAndRegisterAppWithNotice(owner, false, false, true, bytes32(0), H1, notice, guardian));
    }

    function _kmsSays(address app, bytes32 h, bool want, string memory reason) internal view {
        (bool ok, string memory why) = kms.isAppAllowed(_boot(app, h, DEV1, "UpToDate"));
        _expectDecision(ok, why, want, reason, reason);
    }
}

contract SafeOwnedAppTest is DaoFixture {
    uint256 internal constant K1 = 0xA1;
    uint256 internal constant K2 = 0xA2;
    uint256 internal constant K3 = 0xA3;
    uint256 internal constant OUTSIDER = 0xEE;

    ISafe internal safe;
    KeygateApp internal app;

    function setUp() public {
        _setUpKms();
        address[] memory owners = new address[](3);
        owners[0] = vm.addr(K1);
        owners[1] = vm.addr(K2);
        owners[2] = vm.addr(K3);
        safe = _newSafe(owners, 2, 1);
        app = _deployApp(address(safe), 0, address(0));
    }

    function _keys(uint256 a, uint256 b) internal pure returns (uint256[] memory k) {
        k = new uint256[](2);
        k[0] = a;
        k[1] = b;
    }

    function test_safeIsRealAndOwnsTheApp() public view {
        assertEq(safe.getThreshold(), 2, "2-of-3");
        assertEq(safe.getOwners().length, 3, "three owners");
        assertEq(app.owner(), address(safe), "the Safe owns the app");
    }

    function test_twoOfThreeAllowComposeHash_kmsFollows() public {
        _kmsSays(address(app), H2, false, "compose hash not allowed");
        assertTrue(
            _safeExec(safe, _keys(K3, K1), address(app), abi.encodeCall(KeygateApp.addComposeHash, (H2))), "exec"
        );
        assertTrue(app.allowedComposeHashes(H2), "allowed by the Safe");
        _kmsSays(address(app), H2, true, "");
        // revocation by another pair of owners
        assertTrue(
            _safeExec(safe, _keys(K2, K3), address(app), abi.encodeCall(KeygateApp.removeComposeHash, (H2))), "exec"
        );
        _kmsSays(address(app), H2, false, "compose hash not allowed");
    }

    function test_oneSignatureIsNotEnough() public {
        bytes memory data = abi.encodeCall(KeygateApp.addComposeHash, (H2));
        uint256[] memory one = new uint256[](1);
        one[0] = K1;
        bytes memory sigs = _safeSign(one, _safeTxHash(safe, address(app), data));
        vm.expectRevert(bytes("GS020")); // signatures data too short
        safe.execTransaction(address(app), 0, data, 0, 0, 0, 0, address(0), payable(address(0)), sigs);
        assertFalse(app.allowedComposeHashes(H2), "unchanged");
    }

    function test_outsiderSignatureRefused() public {
        bytes memory data = abi.encodeCall(KeygateApp.addComposeHash, (H2));
        bytes memory sigs = _safeSign(_keys(K1, OUTSIDER), _safeTxHash(safe, address(app), data));
        vm.expectRevert(bytes("GS026")); // not an owner (or not sorted)
        safe.execTransaction(address(app), 0, data, 0, 0, 0, 0, address(0), payable(address(0)), sigs);
        assertFalse(app.allowedComposeHashes(H2), "unchanged");
    }

    function test_signaturesAreBoundToNonce() public {
        bytes memory data = abi.encodeCall(KeygateApp.addComposeHash, (H2));
        bytes memory sigs = _safeSign(_keys(K1, K2), _safeTxHash(safe, address(app), data));
        safe.execTransaction(address(app), 0, data, 0, 0, 0, 0, address(0), payable(address(0)), sigs);
        vm.expectRevert(bytes("GS026")); // replay: the hash now includes the next nonce
        safe.execTransaction(address(app), 0, data, 0, 0, 0, 0, address(0), payable(address(0)), sigs);
    }

    function test_innerRevertRevertsTheSafeTransaction() public {
        // A non-owner action through the Safe (vetoComposeHash needs the guardian): the app
        // reverts, so the Safe transaction reverts (safeTxGas 0) and the nonce is not used up.
        uint256 n = safe.nonce();
        bytes memory data = abi.encodeCall(KeygateApp.vetoComposeHash, (H2));
        bytes memory sigs = _safeSign(_keys(K1, K2), _safeTxHash(safe, address(app), data));
        vm.expectRevert(bytes("GS013"));
        safe.execTransaction(address(app), 0, data, 0, 0, 0, 0, address(0), payable(address(0)), sigs);
        assertEq(safe.nonce(), n, "nonce kept");
    }

    function test_directCallsByOwnersOfTheSafeRefused() public {
        vm.prank(vm.addr(K1));
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, vm.addr(K1)));
        app.addComposeHash(H2);
    }

    function test_safeTransfersOwnershipTwoStep() public {
        ISafe other = _newSafe(_addrs(vm.addr(K2), vm.addr(K3)), 2, 2);
        _safeExec(safe, _keys(K1, K2), address(app), abi.encodeCall(app.transferOwnership, (address(other))));
        assertEq(app.owner(), address(safe), "still the old Safe until accepted");
        _safeExec(other, _keys(K2, K3), address(app), abi.encodeCall(app.acceptOwnership, ()));
        assertEq(app.owner(), address(other), "the new Safe accepted");
    }

    function test_safeGovernsTcbPolicyAndDevices() public {
        _safeExec(safe, _keys(K1, K2), address(app), abi.encodeCall(KeygateApp.setRequireTcbUpToDate, (true)));
        (bool ok, string memory why) = kms.isAppAllowed(_boot(address(app), H1, DEV1, "OutOfDate"));
        _expectDecision(ok, why, false, "tcb status not up to date", "tcb required");
        _safeExec(safe, _keys(K1, K2), address(app), abi.encodeCall(KeygateApp.setOutOfDateGracePeriod, (7 days)));
        (ok, why) = kms.isAppAllowed(_boot(address(app), H1, DEV1, "OutOfDate"));
        _expectDecision(ok, why, true, "", "within the grace period");
        _safeExec(safe, _keys(K1, K2), address(app), abi.encodeCall(KeygateApp.setAllowAnyDevice, (false)));
        _kmsSays(address(app), H1, false, "device not allowed");
        _safeExec(safe, _keys(K1, K2), address(app), abi.encodeCall(KeygateApp.addDevice, (DEV1)));
        _kmsSays(address(app), H1, true, "");
    }

    function _addrs(address a, address b) internal pure returns (address[] memory o) {
        o = new address[](2);
        o[0] = a;
        o[1] = b;
    }
}

/// @notice A token vote behind a timelock owns a time-locked app; a Safe "security council" is its guardian.
contract GovernorOwnedAppTest is DaoFixture {
    uint256 internal constant COUNCIL_1 = 0xC1;
    uint256 internal constant COUNCIL_2 = 0xC2;
    address internal constant VOTER_A = address(0xA0A);
    address internal constant VOTER_B = address(0xB0B0);
    uint64 internal constant APP_NOTICE = 7 days;
    uint256 internal constant TIMELOCK_DELAY = 2 days;

    DaoToken internal token;
    TimelockController internal timelock;
    DaoGovernor internal governor;
    ISafe internal council;
    KeygateApp internal app;

    function setUp() public {
        _setUpKms();
        vm.roll(100);
        address[] memory holders = new address[](2);
        holders[0] = VOTER_A;
        holders[1] = VOTER_B;
        uint256[] memory amounts = new uint256[](2);
        amounts[0] = 600e18;
        amounts[1] = 400e18;
        token = new DaoToken(holders, amounts);
        vm.prank(VOTER_A);
        token.delegate(VOTER_A);
        vm.prank(VOTER_B);
        token.delegate(VOTER_B);

        address[] memory none = new address[](0);
        address[] memory anyone = new address[](1); // address(0): anyone may execute
        timelock = new TimelockController(TIMELOCK_DELAY, none, anyone, address(this));
        governor = new DaoGovernor(token, timelock, 1, 50, 4);
        timelock.grantRole(timelock.PROPOSER_ROLE(), address(governor));
        timelock.grantRole(timelock.CANCELLER_ROLE(), address(governor));
        timelock.renounceRole(timelock.DEFAULT_ADMIN_ROLE(), address(this));

        address[] memory councilOwners = new address[](2);
        councilOwners[0] = vm.addr(COUNCIL_1);
        councilOwners[1] = vm.addr(COUNCIL_2);
        council = _newSafe(councilOwners, 2, 7);
        app = _deployApp(address(timelock), APP_NOTICE, address(council));
        vm.roll(block.number + 1);
    }

    /// @dev propose, vote (A for, B against: 60% for), queue, wait the timelock, execute.
    function _passVote(bytes memory call, string memory description) internal {
        address[] memory targets = new address[](1);
        targets[0] = address(app);
        uint256[] memory values = new uint256[](1);
        bytes[] memory calls = new bytes[](1);
        calls[0] = call;
        bytes32 dh = keccak256(bytes(description));
        uint256 id = governor.propose(targets, values, calls, description);
        assertEq(uint256(governor.state(id)), uint256(IGovernor.ProposalState.Pending), "pending");
        vm.roll(block.number + governor.votingDelay() + 1);
        vm.prank(VOTER_A);
        governor.castVote(id, 1);
        vm.prank(VOTER_B);
        governor.castVote(id, 0);
        vm.roll(block.number + governor.votingPeriod());
        assertEq(uint256(governor.state(id)), uint256(IGovernor.ProposalState.Succeeded), "succeeded");
        governor.queue(targets, values, calls, dh);
        // the timelock holds: not executable before its delay
        vm.expectRevert();
        governor.execute(targets, values, calls, dh);
        vm.warp(block.timestamp + TIMELOCK_DELAY);
        governor.execute(targets, values, calls, dh);
        assertEq(uint256(governor.state(id)), uint256(IGovernor.ProposalState.Executed), "executed");
    }

    function test_timelockOwnsTheApp_kmsGuaranteesItsNotice() public view {
        assertEq(app.owner(), address(timelock), "owner");
        _kmsSays(address(app), H1, true, "");
    }

    function test_voteProposesComposeHash_noticeHolds_kmsFollows() public {
        _passVote(abi.encodeCall(KeygateApp.proposeComposeHash, (H2)), "allow app v2");
        uint64 at = app.composeHashActivatesAt(H2);
        assertEq(uint256(at), block.timestamp + APP_NOTICE, "pending for the app's notice");
        _kmsSays(address(app), H2, false, "compose hash pending: notice period not over");
        vm.warp(at - 1);
        _kmsSays(address(app), H2, false, "compose hash pending: notice period not over");
        vm.warp(at);
        _kmsSays(address(app), H2, true, "");
    }

    function test_voteUpgradesTheApp_afterItsNotice() public {
        KeygateAppV2 v2 = new KeygateAppV2();
        _passVote(abi.encodeCall(KeygateApp.proposeUpgrade, (address(v2))), "propose the v2 implementation");
        (address pending, uint64 at) = app.pendingUpgrade();
        assertEq(pending, address(v2), "proposed");
        // A second vote tries to execute the upgrade before the app's notice: the timelock
        // executes it, and the app refuses, so the whole proposal execution reverts.
        bytes memory up = abi.encodeCall(app.upgradeToAndCall, (address(v2), ""));
        address[] memory targets = new address[](1);
        targets[0] = address(app);
        uint256[] memory values = new uint256[](1);
        bytes[] memory calls = new bytes[](1);
        calls[0] = up;
        string memory d = "execute the v2 upgrade";
        uint256 id = governor.propose(targets, values, calls, d);
        vm.roll(block.number + governor.votingDelay() + 1);
        vm.prank(VOTER_A);
        governor.castVote(id, 1);
        vm.roll(block.number + governor.votingPeriod());
        governor.queue(targets, values, calls, keccak256(bytes(d)));
        vm.warp(block.timestamp + TIMELOCK_DELAY);
        assertTrue(block.timestamp < at, "two timelock delays are shorter than the app's notice");
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppUpgradeNotReady.selector, address(v2), at));
        governor.execute(targets, values, calls, keccak256(bytes(d)));
        vm.warp(at);
        governor.execute(targets, values, calls, keccak256(bytes(d)));
        assertEq(app.version(), 2, "upgraded by the DAO after the notice");
        assertEq(_implementationOf(address(app)), address(v2), "implementation");
    }

    function test_councilVetoesAProposal_itNeverActivates() public {
        _passVote(abi.encodeCall(KeygateApp.proposeComposeHash, (H2)), "allow app v2");
        bytes memory veto = abi.encodeCall(KeygateApp.vetoComposeHash, (H2));
        uint256[] memory keys = new uint256[](2);
        keys[0] = COUNCIL_1;
        keys[1] = COUNCIL_2;
        assertTrue(_safeExec(council, keys, address(app), veto), "council veto");
        vm.warp(block.timestamp + APP_NOTICE + 1);
        assertEq(uint256(app.composeHashState(H2)), uint256(KeygateApp.ComposeHashState.None), "vetoed");
        _kmsSays(address(app), H2, false, "compose hash not allowed");
    }

    function test_voterAloneCannotAct() public {
        vm.prank(VOTER_A);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, VOTER_A));
        app.proposeComposeHash(H2);
        vm.prank(address(governor)); // the governor is not the owner: the timelock is
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(governor)));
        app.proposeComposeHash(H2);
    }

    function test_defeatedVoteChangesNothing() public {
        address[] memory targets = new address[](1);
        targets[0] = address(app);
        uint256[] memory values = new uint256[](1);
        bytes[] memory calls = new bytes[](1);
        calls[0] = abi.encodeCall(KeygateApp.proposeComposeHash, (H2));
        uint256 id = governor.propose(targets, values, calls, "rejected");
        vm.roll(block.number + governor.votingDelay() + 1);
        vm.prank(VOTER_A);
        governor.castVote(id, 0);
        vm.roll(block.number + governor.votingPeriod());
        assertEq(uint256(governor.state(id)), uint256(IGovernor.ProposalState.Defeated), "defeated");
        vm.expectRevert();
        governor.queue(targets, values, calls, keccak256("rejected"));
        assertEq(uint256(app.composeHashState(H2)), 0, "nothing proposed");
    }
}

contract TcbPolicyTest is Fixture {
    KeygateApp internal app;

    function setUp() public {
        vm.warp(T0);
        app = _newApp(true, true, bytes32(0), H1);
    }

    function _boot2(string memory tcb, string memory a1, string memory a2)
        internal
        view
        returns (IAppAuth.AppBootInfo memory b)
    {
        b = _boot(address(app), H1, DEV1, tcb);
        b.advisoryIds = new string[](2);
        b.advisoryIds[0] = a1;
        b.advisoryIds[1] = a2;
    }

    function test_denyListRefusesAnyStatus() public {
        vm.prank(OWNER);
        app.setAdvisoryDenied("INTEL-SA-00837", true);
        assertTrue(app.advisoryDenied("INTEL-SA-00837"), "getter");
        _checkApp(app, _boot(address(app), H1, DEV1, "UpToDate"), false, "advisory denied: INTEL-SA-00837");
        vm.prank(OWNER);
        app.setRequireTcbUpToDate(false);
        _checkApp(app, _boot(address(app), H1, DEV1, "UpToDate"), false, "advisory denied: INTEL-SA-00837");
        vm.prank(OWNER);
        app.setAdvisoryDenied("INTEL-SA-00837", false);
        _checkApp(app, _boot(address(app), H1, DEV1, "UpToDate"), true, "");
    }

    function test_allowListToleratesKnownAdvisories() public {
        _checkApp(
            app, _boot2("SWHardeningNeeded", "INTEL-SA-00615", "INTEL-SA-00657"), false, "tcb status not up to date"
        );
        vm.startPrank(OWNER);
        app.setAdvisoryAllowed("INTEL-SA-00615", true);
        vm.stopPrank();
        _checkApp(
            app, _boot2("SWHardeningNeeded", "INTEL-SA-00615", "INTEL-SA-00657"), false, "tcb status not up to date"
        );
        vm.prank(OWNER);
        app.setAdvisoryAllowed("INTEL-SA-00657", true);
        _checkApp(app, _boot2("SWHardeningNeeded", "INTEL-SA-00615", "INTEL-SA-00657"), true, "");
        _checkApp(app, _boot2("Revoked", "INTEL-SA-00615", "INTEL-SA-00657"), false, "tcb status not up to date");
        IAppAuth.AppBootInfo memory none = _boot(address(app), H1, DEV1, "OutOfDate");
        none.advisoryIds = new string[](0);
        _checkApp(app, none, false, "tcb status not up to date");
    }

    function test_outOfDateGraceRunsOut() public {
        _checkApp(app, _boot(address(app), H1, DEV1, "OutOfDate"), false, "tcb status not up to date");
        vm.prank(OWNER);
        vm.expectEmit(address(app));
        emit KeygateApp.OutOfDateGraceSet(30 days, T0 + 30 days);
        app.setOutOfDateGracePeriod(30 days);
        assertEq(uint256(app.outOfDateGraceUntil()), T0 + 30 days, "until");
        _checkApp(app, _boot(address(app), H1, DEV1, "OutOfDate"), true, "");
        _checkApp(app, _boot(address(app), H1, DEV1, "Revoked"), false, "tcb status not up to date");
        _checkApp(
            app, _boot(address(app), H1, DEV1, "OutOfDateConfigurationNeeded"), false, "tcb status not up to date"
        );
        vm.warp(T0 + 30 days - 1);
        _checkApp(app, _boot(address(app), H1, DEV1, "OutOfDate"), true, "");
        vm.warp(T0 + 30 days);
        _checkApp(app, _boot(address(app), H1, DEV1, "OutOfDate"), false, "tcb status not up to date");
        vm.prank(OWNER);
        app.setOutOfDateGracePeriod(0);
        assertEq(uint256(app.outOfDateGraceUntil()), 0, "cleared");
    }

    function test_tcbPolicyRejections() public {
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, STRANGER));
        app.setAdvisoryDenied("X", true);
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, STRANGER));
        app.setAdvisoryAllowed("X", true);
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, STRANGER));
        app.setOutOfDateGracePeriod(1);
        vm.startPrank(OWNER);
        vm.expectRevert(KeygateApp.AppInvalidAdvisoryId.selector);
        app.setAdvisoryDenied("", true);
        vm.expectRevert(abi.encodeWithSelector(KeygateApp.AppGracePeriodTooLong.selector, uint64(366 days)));
        app.setOutOfDateGracePeriod(366 days);
        vm.stopPrank();
    }

    function test_tcbPolicyEvents() public {
        vm.startPrank(OWNER);
        vm.expectEmit(address(app));
        emit KeygateApp.AdvisoryDenySet("INTEL-SA-00837", true);
        vm.expectEmit(address(app));
        emit KeygateApp.PolicyChanged(OWNER, _policy("advisory-deny"), keccak256("INTEL-SA-00837"), true);
        app.setAdvisoryDenied("INTEL-SA-00837", true);
        vm.expectEmit(address(app));
        emit KeygateApp.AdvisoryAllowSet("INTEL-SA-00615", true);
        vm.expectEmit(address(app));
        emit KeygateApp.PolicyChanged(OWNER, _policy("advisory-allow"), keccak256("INTEL-SA-00615"), true);
        app.setAdvisoryAllowed("INTEL-SA-00615", true);
        vm.stopPrank();
    }

    function test_kmsStillRequiresUpToDateForKmsNodes() public {
        KeygateKms kms = _newKms(address(appImpl));
        vm.startPrank(OWNER);
        kms.addOsImageHash(OS1);
        kms.addKmsAggregatedMr(MR1);
        kms.addKmsDevice(DEV1);
        vm.stopPrank();
        (bool ok, string memory why) = kms.isKmsAllowed(_boot(address(0), bytes32(0), DEV1, "OutOfDate"));
        _expectDecision(ok, why, false, "tcb status not up to date", "KMS nodes: UpToDate only");
    }
}
