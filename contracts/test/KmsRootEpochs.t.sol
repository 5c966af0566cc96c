// SPDX-License-Identifier: Apache-2.0
// KmsRootEpochs.t - root-key epochs on KeygateKms: proposal checks, guardian veto, activation after the notice, retirement, kmsInfo following the current epoch, and an upgrade from the previous implementation's deployed code.
pragma solidity ^0.8.24;

import {ERC1967Proxy} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";
import {OwnableUpgradeable} from "@openzeppelin/contracts-upgradeable/access/OwnableUpgradeable.sol";

import {Fixture} from "./Fixture.sol";
import {Vm} from "./utils/Vm.sol";
import {KeygateApp} from "../src/KeygateApp.sol";
import {KeygateKms} from "../src/KeygateKms.sol";
import {KeygateLogAnchor} from "../src/KeygateLogAnchor.sol";

contract KmsRootEpochsTest is Fixture {
    uint8 internal constant NONE = 0;
    uint8 internal constant PROPOSED = 1;
    uint8 internal constant CURRENT = 2;
    uint8 internal constant RETIRING = 3;
    uint8 internal constant RETIRED = 4;

    uint256 internal constant ROOT0 = 0xC0FFEE;
    uint256 internal constant ROOT1 = 0xBEEF01;
    uint256 internal constant ROOT2 = 0xBEEF02;
    bytes32 internal constant DEV_OTHER = keccak256("another device");

    KeygateKms internal kms;
    bytes internal ca0 = hex"3059301306072a8648ce3d020106082a8648ce3d0301070342000400";
    bytes internal ca1 = hex"3059301306072a8648ce3d020106082a8648ce3d0301070342000411";
    bytes internal ca2 = hex"3059301306072a8648ce3d020106082a8648ce3d0301070342000422";
    bytes internal quote1 = "a TDX quote of the node that generated epoch 1";
    bytes internal eventlog1 = "[{\"imr\":3,\"event\":\"keygate-root-epoch\"}]";

    function setUp() public {
        vm.warp(T0);
        appImpl = new KeygateApp();
        kms = _newKms(address(appImpl));
        KeygateKms.KmsInfo memory i;
        i.k256Pubkey = _k256(ROOT0);
        i.caPubkey = ca0;
        i.quote = "bootstrap quote";
        i.eventlog = "bootstrap eventlog";
        vm.startPrank(OWNER);
        kms.setKmsInfo(i);
        kms.addKmsAggregatedMr(MR1);
        kms.addKmsDevice(DEV1);
        kms.addOsImageHash(OS1);
        kms.setGovernanceNotice(NOTICE, GUARDIAN);
        vm.stopPrank();
    }

    // ------------------------------------------------------------ helpers

    function _k256(uint256 pk) internal returns (bytes memory) {
        Vm.Wallet memory w = vm.createWallet(pk);
        return abi.encodePacked(bytes1(uint8(2 + (w.publicKeyY & 1))), bytes32(w.publicKeyX));
    }

    function _propose(KeygateKms k, uint32 epoch, bytes memory ca, bytes memory k256, bytes memory quote) internal {
        vm.prank(OWNER);
        k.proposeRootEpoch(epoch, ca, k256, keccak256(quote), MR1, DEV1, OS1, quote, eventlog1);
    }

    function _proposeExpect(uint32 epoch, bytes memory ca, bytes memory k256, bytes32 h, bytes memory err) internal {
        vm.prank(OWNER);
        vm.expectRevert(err);
        kms.proposeRootEpoch(epoch, ca, k256, h, MR1, DEV1, OS1, quote1, eventlog1);
    }

    function _assertEpoch(
        KeygateKms k,
        uint32 epoch,
        uint8 wantStatus,
        bytes memory wantCa,
        bytes memory wantK256,
        uint64 wantAt,
        bytes32 wantHash
    ) internal view {
        (uint8 status, bytes memory ca, bytes memory k256, uint64 at, bytes32 h) = k.rootEpoch(epoch);
        assertEq(status, wantStatus, "status");
        assertEq(ca, wantCa, "caPubkey");
        assertEq(k256, wantK256, "k256Pubkey");
        assertEq(at, wantAt, "activatesAt");
        assertEq(h, wantHash, "attestationHash");
    }

    function _assertKmsInfoKeys(KeygateKms k, bytes memory wantK256, bytes memory wantCa) internal view {
        (bytes memory k256, bytes memory ca, bytes memory quote, bytes memory eventlog) = k.kmsInfo();
        assertEq(k256, wantK256, "kmsInfo k256Pubkey");
        assertEq(ca, wantCa, "kmsInfo caPubkey");
        assertEq(quote, bytes("bootstrap quote"), "kmsInfo quote stays the bootstrap one");
        assertEq(eventlog, bytes("bootstrap eventlog"), "kmsInfo eventlog stays the bootstrap one");
    }

    function _rotateTo1() internal {
        _propose(kms, 1, ca1, _k256(ROOT1), quote1);
        vm.warp(T0 + NOTICE);
        vm.prank(OWNER);
        kms.activateRootEpoch(1);
    }

    // ------------------------------------------------------------ epoch 0 and proposals

    function test_epoch0_isKmsInfoBeforeAnyRotation() public {
        assertEq(kms.currentRootEpoch(), 0, "current");
        _assertEpoch(kms, 0, CURRENT, ca0, _k256(ROOT0), 0, bytes32(0));
        _assertEpoch(kms, 1, NONE, "", "", 0, bytes32(0));
        // a fresh deployment without kmsInfo: epoch 0 is current with empty keys
        KeygateKms fresh = _newKms(address(0));
        _assertEpoch(fresh, 0, CURRENT, "", "", 0, bytes32(0));
    }

    function test_propose_recordsAndEmits() public {
        bytes memory k1 = _k256(ROOT1);
        vm.expectEmit(address(kms));
        emit KeygateKms.RootEpochProposed(1, ca1, k1, keccak256(quote1), T0 + NOTICE, quote1, eventlog1);
        vm.expectEmit(address(kms));
        emit KeygateKms.PolicyChanged(OWNER, _policy("root-epoch-proposal"), bytes32(uint256(1)), true);
        _propose(kms, 1, ca1, k1, quote1);
        _assertEpoch(kms, 1, PROPOSED, ca1, k1, T0 + NOTICE, keccak256(quote1));
        // nothing else moved: epoch 0 still current, kmsInfo unchanged
        assertEq(kms.currentRootEpoch(), 0, "current");
        _assertEpoch(kms, 0, CURRENT, ca0, _k256(ROOT0), 0, bytes32(0));
        _assertKmsInfoKeys(kms, _k256(ROOT0), ca0);
    }

    function test_propose_refusals() public {
        bytes memory k1 = _k256(ROOT1);
        bytes32 h = keccak256(quote1);
        // wrong number: the current epoch, or one too far
        _proposeExpect(0, ca1, k1, h, abi.encodeWithSelector(KeygateKms.KmsRootEpochWrongNumber.selector, 0, 1));
        _proposeExpect(2, ca1, k1, h, abi.encodeWithSelector(KeygateKms.KmsRootEpochWrongNumber.selector, 2, 1));
        // k256 key: 32 or 34 bytes, uncompressed prefix, x not on the curve, x >= p
        bytes memory bad = abi.encodePacked(bytes32(uint256(1)));
        bytes memory err = abi.encodeWithSelector(KeygateKms.KmsRootEpochK256KeyInvalid.selector);
        _proposeExpect(1, ca1, bad, h, err);
        _proposeExpect(1, ca1, abi.encodePacked(k1, bytes1(0)), h, err);
        bad = abi.encodePacked(k1);
        bad[0] = 0x04;
        _proposeExpect(1, ca1, bad, h, err);
        _proposeExpect(1, ca1, abi.encodePacked(bytes1(0x02), bytes32(uint256(5))), h, err); // 132 is no square mod p
        _proposeExpect(1, ca1, abi.encodePacked(bytes1(0x02), bytes32(type(uint256).max)), h, err);
        // CA key: empty or longer than 512 bytes
        _proposeExpect(1, "", k1, h, abi.encodeWithSelector(KeygateKms.KmsRootEpochCaKeyInvalid.selector, 0));
        _proposeExpect(
            1, new bytes(513), k1, h, abi.encodeWithSelector(KeygateKms.KmsRootEpochCaKeyInvalid.selector, 513)
        );
        // attestation hash other than keccak256(quote)
        bytes32 wrong = keccak256("another quote");
        _proposeExpect(
            1, ca1, k1, wrong, abi.encodeWithSelector(KeygateKms.KmsRootEpochAttestationMismatch.selector, wrong, h)
        );
        // an empty quote, even with its hash
        vm.prank(OWNER);
        vm.expectRevert(
            abi.encodeWithSelector(KeygateKms.KmsRootEpochAttestationMismatch.selector, keccak256(""), keccak256(""))
        );
        kms.proposeRootEpoch(1, ca1, k1, keccak256(""), MR1, DEV1, OS1, "", eventlog1);
        // the proposer's identity, with isKmsAllowed's reasons
        _proposerRefused(keccak256("other mr"), DEV1, OS1, "aggregated mr not allowed");
        _proposerRefused(MR1, DEV_OTHER, OS1, "kms device not allowed");
        _proposerRefused(MR1, DEV1, keccak256("other os"), "os image not allowed");
        // only the owner
        vm.prank(GUARDIAN);
        vm.expectRevert(abi.encodeWithSelector(OwnableUpgradeable.OwnableUnauthorizedAccount.selector, GUARDIAN));
        kms.proposeRootEpoch(1, ca1, k1, h, MR1, DEV1, OS1, quote1, eventlog1);
        // nothing was recorded
        _assertEpoch(kms, 1, NONE, "", "", 0, bytes32(0));
        // one pending at a time: the same number again is refused
        _propose(kms, 1, ca1, k1, quote1);
        _proposeExpect(
            1, ca2, _k256(ROOT2), h, abi.encodeWithSelector(KeygateKms.KmsRootEpochAlreadyPending.selector, 1)
        );
        _proposeExpect(
            2, ca2, _k256(ROOT2), h, abi.encodeWithSelector(KeygateKms.KmsRootEpochWrongNumber.selector, 2, 1)
        );
        _assertEpoch(kms, 1, PROPOSED, ca1, k1, T0 + NOTICE, h);
    }

    function _proposerRefused(bytes32 mr, bytes32 device, bytes32 os, string memory reason) internal {
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsRootEpochProposerNotAllowed.selector, reason));
        kms.proposeRootEpoch(1, ca1, _k256(ROOT1), keccak256(quote1), mr, device, os, quote1, eventlog1);
    }

    /// A proposer allowed only by a proposal counts from that proposal's activation on, like isKmsAllowed.
    function test_propose_proposerProposedButNotYetAllowed() public {
        vm.prank(OWNER);
        kms.proposeKmsDevice(DEV_OTHER);
        vm.prank(OWNER);
        vm.expectRevert(
            abi.encodeWithSelector(KeygateKms.KmsRootEpochProposerNotAllowed.selector, "kms device not allowed")
        );
        kms.proposeRootEpoch(1, ca1, _k256(ROOT1), keccak256(quote1), MR1, DEV_OTHER, OS1, quote1, eventlog1);
        vm.warp(T0 + NOTICE);
        vm.prank(OWNER);
        kms.proposeRootEpoch(1, ca1, _k256(ROOT1), keccak256(quote1), MR1, DEV_OTHER, OS1, quote1, eventlog1);
        _assertEpoch(kms, 1, PROPOSED, ca1, _k256(ROOT1), T0 + 2 * NOTICE, keccak256(quote1));
    }

    // ------------------------------------------------------------ activation

    function test_activate_afterNoticeOnly() public {
        bytes memory k1 = _k256(ROOT1);
        _propose(kms, 1, ca1, k1, quote1);
        vm.warp(T0 + NOTICE - 1);
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsRootEpochNotReady.selector, 1, T0 + NOTICE));
        kms.activateRootEpoch(1);
        vm.warp(T0 + NOTICE);
        vm.prank(GUARDIAN);
        vm.expectRevert(abi.encodeWithSelector(OwnableUpgradeable.OwnableUnauthorizedAccount.selector, GUARDIAN));
        kms.activateRootEpoch(1);
        vm.expectEmit(address(kms));
        emit KeygateKms.RootEpochActivated(1);
        vm.expectEmit(address(kms));
        emit KeygateKms.KmsInfoSet(k1);
        vm.expectEmit(address(kms));
        emit KeygateKms.PolicyChanged(OWNER, _policy("root-epoch"), bytes32(uint256(1)), true);
        vm.prank(OWNER);
        kms.activateRootEpoch(1);
        assertEq(kms.currentRootEpoch(), 1, "current");
        _assertEpoch(kms, 1, CURRENT, ca1, k1, T0 + NOTICE, keccak256(quote1));
        _assertEpoch(kms, 0, RETIRING, ca0, _k256(ROOT0), 0, bytes32(0));
        _assertKmsInfoKeys(kms, k1, ca1);
        // not twice
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsRootEpochNotPending.selector, 1));
        kms.activateRootEpoch(1);
    }

    function test_activate_refusesWhatIsNotProposed() public {
        vm.startPrank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsRootEpochNotPending.selector, 1));
        kms.activateRootEpoch(1);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsRootEpochNotPending.selector, 0));
        kms.activateRootEpoch(0);
        vm.stopPrank();
    }

    /// Without a notice period the proposal is activatable in the same block.
    function test_activate_withoutNoticeAtOnce() public {
        KeygateKms k = _newKms(address(appImpl));
        vm.startPrank(OWNER);
        k.addKmsAggregatedMr(MR1);
        k.addKmsDevice(DEV1);
        k.addOsImageHash(OS1);
        vm.stopPrank();
        _propose(k, 1, ca1, _k256(ROOT1), quote1);
        _assertEpoch(k, 1, PROPOSED, ca1, _k256(ROOT1), T0, keccak256(quote1));
        vm.prank(OWNER);
        k.activateRootEpoch(1);
        assertEq(k.currentRootEpoch(), 1, "current");
        // epoch 0 had no kmsInfo: it is recorded retiring with empty keys
        _assertEpoch(k, 0, RETIRING, "", "", 0, bytes32(0));
    }

    /// The notice is the guaranteed one: a proposal made while a shorter-notice proposal may be
    /// pending gets only that shorter guarantee, like every other change.
    function test_propose_usesGuaranteedNotice() public {
        KeygateKms k = _newKms(address(appImpl));
        vm.startPrank(OWNER);
        k.addKmsAggregatedMr(MR1);
        k.addKmsDevice(DEV1);
        k.addOsImageHash(OS1);
        k.setGovernanceNotice(1 hours, GUARDIAN);
        k.proposeOsImageHash(keccak256("os 2")); // pending with 1 hour of notice
        k.setGovernanceNotice(NOTICE, GUARDIAN); // longer at once
        vm.stopPrank();
        assertEq(k.guaranteedNotice(), 1 hours, "guarantee");
        _propose(k, 1, ca1, _k256(ROOT1), quote1);
        (,,, uint64 at,) = k.rootEpoch(1);
        assertEq(at, T0 + 1 hours, "activatesAt = now + guaranteedNotice()");
    }

    // ------------------------------------------------------------ veto

    function test_veto_thenProposeAgain() public {
        _propose(kms, 1, ca1, _k256(ROOT1), quote1);
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsUnauthorizedGuardian.selector, OWNER));
        kms.vetoRootEpoch(1);
        vm.warp(T0 + NOTICE - 1);
        vm.expectEmit(address(kms));
        emit KeygateKms.RootEpochVetoed(1);
        vm.expectEmit(address(kms));
        emit KeygateKms.PolicyChanged(GUARDIAN, _policy("root-epoch-proposal"), bytes32(uint256(1)), false);
        vm.prank(GUARDIAN);
        kms.vetoRootEpoch(1);
        _assertEpoch(kms, 1, NONE, "", "", 0, bytes32(0));
        vm.warp(T0 + NOTICE);
        vm.startPrank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsRootEpochNotPending.selector, 1));
        kms.activateRootEpoch(1);
        // the number is free again, for other keys
        bytes memory quote = "a second node's quote";
        kms.proposeRootEpoch(1, ca2, _k256(ROOT2), keccak256(quote), MR1, DEV1, OS1, quote, eventlog1);
        vm.stopPrank();
        _assertEpoch(kms, 1, PROPOSED, ca2, _k256(ROOT2), T0 + 2 * NOTICE, keccak256(quote));
        // too late to veto once the activation time has come
        vm.warp(T0 + 2 * NOTICE);
        vm.prank(GUARDIAN);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsRootEpochNotPending.selector, 1));
        kms.vetoRootEpoch(1);
        // nothing to veto: never proposed, or the current epoch
        vm.prank(GUARDIAN);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsRootEpochNotPending.selector, 2));
        kms.vetoRootEpoch(2);
        vm.prank(OWNER);
        kms.activateRootEpoch(1);
        vm.prank(GUARDIAN);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsRootEpochNotPending.selector, 1));
        kms.vetoRootEpoch(1);
        _assertKmsInfoKeys(kms, _k256(ROOT2), ca2);
    }

    // ------------------------------------------------------------ retirement

    function test_retire_onlyRetiring() public {
        vm.startPrank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsRootEpochNotRetiring.selector, 0, CURRENT));
        kms.retireRootEpoch(0);
        vm.stopPrank();
        _propose(kms, 1, ca1, _k256(ROOT1), quote1);
        vm.startPrank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsRootEpochNotRetiring.selector, 1, PROPOSED));
        kms.retireRootEpoch(1);
        vm.warp(T0 + NOTICE);
        kms.activateRootEpoch(1);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsRootEpochNotRetiring.selector, 1, CURRENT));
        kms.retireRootEpoch(1);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsRootEpochNotRetiring.selector, 7, NONE));
        kms.retireRootEpoch(7);
        vm.stopPrank();
        vm.prank(GUARDIAN);
        vm.expectRevert(abi.encodeWithSelector(OwnableUpgradeable.OwnableUnauthorizedAccount.selector, GUARDIAN));
        kms.retireRootEpoch(0);
        // retirement is immediate, and the public keys stay readable
        vm.expectEmit(address(kms));
        emit KeygateKms.RootEpochRetired(0);
        vm.expectEmit(address(kms));
        emit KeygateKms.PolicyChanged(OWNER, _policy("root-epoch"), bytes32(uint256(0)), false);
        vm.prank(OWNER);
        kms.retireRootEpoch(0);
        _assertEpoch(kms, 0, RETIRED, ca0, _k256(ROOT0), 0, bytes32(0));
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsRootEpochNotRetiring.selector, 0, RETIRED));
        kms.retireRootEpoch(0);
        _assertEpoch(kms, 1, CURRENT, ca1, _k256(ROOT1), T0 + NOTICE, keccak256(quote1));
    }

    /// A second rotation before the first retirement leaves two epochs retiring; kmsInfo follows.
    function test_secondRotation() public {
        _rotateTo1();
        bytes memory q2 = "the quote of epoch 2";
        _propose(kms, 2, ca2, _k256(ROOT2), q2);
        vm.warp(T0 + 2 * NOTICE);
        vm.prank(OWNER);
        kms.activateRootEpoch(2);
        assertEq(kms.currentRootEpoch(), 2, "current");
        _assertEpoch(kms, 0, RETIRING, ca0, _k256(ROOT0), 0, bytes32(0));
        _assertEpoch(kms, 1, RETIRING, ca1, _k256(ROOT1), T0 + NOTICE, keccak256(quote1));
        _assertEpoch(kms, 2, CURRENT, ca2, _k256(ROOT2), T0 + 2 * NOTICE, keccak256(q2));
        _assertKmsInfoKeys(kms, _k256(ROOT2), ca2);
        vm.startPrank(OWNER);
        kms.retireRootEpoch(1);
        kms.retireRootEpoch(0);
        vm.stopPrank();
        _assertEpoch(kms, 0, RETIRED, ca0, _k256(ROOT0), 0, bytes32(0));
        _assertEpoch(kms, 1, RETIRED, ca1, _k256(ROOT1), T0 + NOTICE, keccak256(quote1));
    }

    /// Once an epoch > 0 is current, kmsInfo's keys are that epoch's: setKmsInfo is closed
    /// (it would replace an attested root without notice); the quote and event log stay settable.
    function test_setKmsInfo_closedAfterRotation() public {
        _rotateTo1();
        KeygateKms.KmsInfo memory i;
        i.k256Pubkey = _k256(ROOT2);
        i.caPubkey = ca2;
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsInfoFollowsRootEpoch.selector, 1));
        kms.setKmsInfo(i);
        vm.prank(OWNER);
        kms.setKmsQuote("bootstrap quote");
        _assertKmsInfoKeys(kms, _k256(ROOT1), ca1);
    }

    /// Log keys are certified by the current root: after activation only the new root signs.
    function test_logAnchor_followsCurrentEpoch() public {
        _rotateTo1();
        bytes32 logKey = keccak256("an ed25519 log key");
        bytes32 digest = kms.logKeyDigest(logKey);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ROOT0, digest);
        vm.expectRevert(abi.encodeWithSelector(KeygateLogAnchor.KmsLogSignatureInvalid.selector, vm.addr(ROOT0)));
        kms.registerLogKey(logKey, abi.encodePacked(r, s, v));
        (v, r, s) = vm.sign(ROOT1, digest);
        kms.registerLogKey(logKey, abi.encodePacked(r, s, v));
        assertEq(kms.logIds().length, 1, "registered under the new root");
    }

    /// The state is in the ERC-7201 namespace `keygate.storage.KmsRootEpochs`, not in the
    /// sequential layout (whose slots 0-17 and gap the other storage tests pin).
    function test_storage_namespaced() public {
        bytes32 slot =
            keccak256(abi.encode(uint256(keccak256("keygate.storage.KmsRootEpochs")) - 1)) & ~bytes32(uint256(0xff));
        assertEq(uint256(vm.load(address(kms), slot)), 0, "current 0");
        _rotateTo1();
        assertEq(uint256(vm.load(address(kms), slot)), 1, "current epoch at the namespace's first slot");
        // epochs mapping at slot + 1: epoch 1's status (uint8) and activatesAt (uint64) packed
        bytes32 e1 = keccak256(abi.encode(uint256(1), uint256(slot) + 1));
        assertEq(uint256(vm.load(address(kms), e1)), uint256(CURRENT) | (uint256(T0 + NOTICE) << 8), "epoch 1 word");
    }

    // ------------------------------------------------------------ upgrade from the previous implementation

    /// A proxy running the previous implementation's deployed code (test/fixtures/previous-kms.json,
    /// from make-previous-kms.sh) is upgraded, under its notice, to this one: every earlier
    /// value reads the same, epoch 0 is its kmsInfo, and a rotation works.
    function test_upgradeFromPreviousImplementation() public {
        string memory json = vm.readFile("test/fixtures/previous-kms.json");
        address oldImpl = vm.parseJsonAddress(json, ".implementation");
        address[] memory libs = vm.parseJsonAddressArray(json, ".libraries");
        bytes[] memory codes = vm.parseJsonBytesArray(json, ".codes");
        assertEq(codes.length, libs.length + 1, "fixture: one code per address");
        vm.etch(oldImpl, codes[0]);
        for (uint256 j = 0; j < libs.length; j++) {
            vm.etch(libs[j], codes[j + 1]);
        }
        KeygateKms k = KeygateKms(
            address(new ERC1967Proxy(oldImpl, abi.encodeCall(KeygateKms.initialize, (OWNER, address(appImpl)))))
        );
        // state under the previous implementation
        KeygateKms.KmsInfo memory i;
        i.k256Pubkey = _k256(ROOT0);
        i.caPubkey = ca0;
        i.quote = "bootstrap quote";
        i.eventlog = "bootstrap eventlog";
        bytes32[] memory holders = new bytes32[](2);
        (holders[0], holders[1]) = (keccak256("holder a"), keccak256("holder b"));
        vm.startPrank(OWNER);
        k.setKmsInfo(i);
        k.addKmsAggregatedMr(MR1);
        k.addKmsDevice(DEV1);
        k.addOsImageHash(OS1);
        k.setGatewayAppId("gateway");
        k.setRecoveryHolders(holders, 2);
        address app = k.deployAndRegisterApp(OWNER, false, true, true, bytes32(0), H1);
        k.setGovernanceNotice(NOTICE, GUARDIAN);
        vm.stopPrank();
        (bool ok,) = k.isAppAllowed(_boot(app, H1, DEV1, "UpToDate"));
        assertTrue(ok, "app allowed before");
        (bool hasEpochs,) = address(k).staticcall(abi.encodeCall(KeygateKms.currentRootEpoch, ()));
        assertFalse(hasEpochs, "the previous implementation runs (it has no epochs)");
        // the upgrade, under the notice
        KeygateKms impl = new KeygateKms();
        vm.prank(OWNER);
        k.proposeUpgrade(address(impl));
        vm.warp(T0 + NOTICE);
        vm.prank(OWNER);
        k.upgradeToAndCall(address(impl), "");
        assertEq(_implementationOf(address(k)), address(impl), "upgraded");
        // everything reads the same
        assertEq(k.owner(), OWNER, "owner");
        _assertKmsInfoKeys(k, _k256(ROOT0), ca0);
        assertTrue(k.kmsAllowedAggregatedMrs(MR1) && k.kmsAllowedDeviceIds(DEV1), "kms allow-lists");
        assertTrue(k.allowedOsImages(OS1), "os images");
        assertEq(k.gatewayAppId(), "gateway", "gateway");
        (bytes32[] memory h, uint8 t) = k.recoveryHolders();
        assertEq(h.length, 2, "holders");
        assertEq(t, 2, "threshold");
        (uint64 p, address g) = k.governanceNotice();
        assertEq(p, NOTICE, "notice");
        assertEq(g, GUARDIAN, "guardian");
        assertEq(k.registeredAppCount(), 1, "apps");
        (ok,) = k.isAppAllowed(_boot(app, H1, DEV1, "UpToDate"));
        assertTrue(ok, "app allowed after");
        // epochs start at 0 = the kmsInfo published before, and rotate
        assertEq(k.currentRootEpoch(), 0, "current");
        _assertEpoch(k, 0, CURRENT, ca0, _k256(ROOT0), 0, bytes32(0));
        _propose(k, 1, ca1, _k256(ROOT1), quote1);
        vm.warp(T0 + 2 * NOTICE);
        vm.prank(OWNER);
        k.activateRootEpoch(1);
        _assertEpoch(k, 0, RETIRING, ca0, _k256(ROOT0), 0, bytes32(0));
        _assertKmsInfoKeys(k, _k256(ROOT1), ca1);
    }
}
