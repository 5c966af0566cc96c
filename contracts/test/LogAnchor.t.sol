// SPDX-License-Identifier: Apache-2.0
// LogAnchor.t - log keys and checkpoints on chain: root-key signatures bound to chain and contract, sizes that never shrink, forks refused.
pragma solidity ^0.8.24;

import {Fixture} from "./Fixture.sol";
import {Vm} from "./utils/Vm.sol";
import {KeygateKms} from "../src/KeygateKms.sol";
import {KeygateLogAnchor} from "../src/KeygateLogAnchor.sol";

contract LogAnchorTest is Fixture {
    uint256 internal constant ROOT_PK = 0xC0FFEE;
    uint256 internal constant OTHER_PK = 0xBADC0DE;
    /// @dev secp256k1's group order (for the malleability test).
    uint256 internal constant K256_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    bytes32 internal constant LOG_PUB = keccak256("an ed25519 log key");
    bytes32 internal constant ROOT_A = keccak256("tree a");
    bytes32 internal constant ROOT_B = keccak256("tree b");

    KeygateKms internal kms;
    bytes32 internal logId;

    function setUp() public {
        kms = _newKms(address(0));
        _setRoot(kms, ROOT_PK);
        logId = sha256(abi.encodePacked(LOG_PUB));
    }

    // ------------------------------------------------------------ helpers

    function _compressed(uint256 pk) internal returns (bytes memory) {
        Vm.Wallet memory w = vm.createWallet(pk);
        return abi.encodePacked(bytes1(uint8(2 + (w.publicKeyY & 1))), bytes32(w.publicKeyX));
    }

    function _setRoot(KeygateKms k, uint256 pk) internal {
        KeygateKms.KmsInfo memory i;
        i.k256Pubkey = _compressed(pk);
        i.caPubkey = hex"3059";
        vm.prank(OWNER);
        k.setKmsInfo(i);
    }

    /// @dev r || s || v with v in {0, 1}, as keygate-kms signs (libsecp256k1's recovery id).
    function _sign(uint256 pk, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(pk, digest);
        return abi.encodePacked(r, s, bytes1(v - 27));
    }

    function _register(KeygateKms k) internal {
        k.registerLogKey(LOG_PUB, _sign(ROOT_PK, k.logKeyDigest(LOG_PUB)));
    }

    function _publish(KeygateKms k, uint64 size, bytes32 root) internal {
        k.publishCheckpoint(logId, size, root, _sign(ROOT_PK, k.checkpointDigest(logId, size, root)));
    }

    /// @dev Whom `sig` (r || s || v in {0, 1}) recovers to for `digest`.
    function _recover(bytes32 digest, bytes memory sig) internal pure returns (address) {
        bytes32 r;
        bytes32 s;
        assembly {
            r := mload(add(sig, 32))
            s := mload(add(sig, 64))
        }
        return ecrecover(digest, uint8(sig[64]) + 27, r, s);
    }

    function _badSig(address recovered) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(KeygateLogAnchor.KmsLogSignatureInvalid.selector, recovered);
    }

    // ------------------------------------------------------------ registration

    function test_register_byAnyone_withRootSignature() public {
        bytes memory sig = _sign(ROOT_PK, kms.logKeyDigest(LOG_PUB));
        vm.expectEmit(address(kms));
        emit KeygateLogAnchor.LogKeyRegistered(logId, LOG_PUB);
        vm.prank(STRANGER);
        bytes32 id = kms.registerLogKey(LOG_PUB, sig);
        assertEq(id, logId, "log id = sha256(public key)");
        (bytes32 pub, uint64 size, bytes32 root, uint64 at) = kms.logCheckpoint(logId);
        assertEq(pub, LOG_PUB, "public key");
        assertEq(size, 0, "nothing published yet");
        assertEq(root, bytes32(0), "no root yet");
        assertEq(at, 0, "never published");
        bytes32[] memory ids = kms.logIds();
        assertEq(ids.length, 1, "one log");
        assertEq(ids[0], logId, "its id");
    }

    function test_register_v27Accepted() public {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ROOT_PK, kms.logKeyDigest(LOG_PUB));
        kms.registerLogKey(LOG_PUB, abi.encodePacked(r, s, v));
        (bytes32 pub,,,) = kms.logCheckpoint(logId);
        assertEq(pub, LOG_PUB, "registered with v = 27/28");
    }

    function test_register_wrongSigner_reverts() public {
        bytes32 d = kms.logKeyDigest(LOG_PUB);
        vm.expectRevert(_badSig(vm.addr(OTHER_PK)));
        kms.registerLogKey(LOG_PUB, _sign(OTHER_PK, d));
    }

    function test_register_signatureForAnotherKey_reverts() public {
        bytes memory sig = _sign(ROOT_PK, kms.logKeyDigest(keccak256("another key")));
        vm.expectRevert(_badSig(_recover(kms.logKeyDigest(LOG_PUB), sig)));
        kms.registerLogKey(LOG_PUB, sig);
    }

    function test_register_twice_reverts() public {
        _register(kms);
        bytes memory sig = _sign(ROOT_PK, kms.logKeyDigest(LOG_PUB));
        vm.expectRevert(abi.encodeWithSelector(KeygateLogAnchor.KmsLogAlreadyRegistered.selector, logId));
        kms.registerLogKey(LOG_PUB, sig);
    }

    function test_register_zeroKey_reverts() public {
        bytes memory sig = _sign(ROOT_PK, kms.logKeyDigest(bytes32(0)));
        vm.expectRevert(KeygateLogAnchor.KmsLogKeyInvalid.selector);
        kms.registerLogKey(bytes32(0), sig);
    }

    function test_register_malformedSignature_reverts() public {
        vm.expectRevert(_badSig(address(0)));
        kms.registerLogKey(LOG_PUB, hex"00");
        bytes memory sig = _sign(ROOT_PK, kms.logKeyDigest(LOG_PUB));
        sig[64] = bytes1(uint8(5)); // recovery id out of range
        vm.expectRevert(_badSig(address(0)));
        kms.registerLogKey(LOG_PUB, sig);
    }

    /// The same signature with s' = n - s (and the other v) recovers the same key; it is refused.
    function test_register_highS_reverts() public {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ROOT_PK, kms.logKeyDigest(LOG_PUB));
        bytes memory flipped = abi.encodePacked(r, bytes32(K256_N - uint256(s)), bytes1(v == 27 ? 1 : 0));
        vm.expectRevert(_badSig(address(0)));
        kms.registerLogKey(LOG_PUB, flipped);
    }

    function test_register_withoutRootKey_reverts() public {
        KeygateKms fresh = _newKms(address(0));
        bytes memory sig = _sign(ROOT_PK, fresh.logKeyDigest(LOG_PUB));
        vm.expectRevert(KeygateLogAnchor.KmsRootKeyUnusable.selector);
        fresh.registerLogKey(LOG_PUB, sig);
    }

    function test_register_rootKeyNotOnCurve_reverts() public {
        KeygateKms.KmsInfo memory i;
        i.k256Pubkey = abi.encodePacked(bytes1(0x02), bytes32(uint256(5))); // 5^3 + 7 = 132 is no square mod p
        vm.prank(OWNER);
        kms.setKmsInfo(i);
        bytes memory sig = _sign(ROOT_PK, kms.logKeyDigest(LOG_PUB));
        vm.expectRevert(KeygateLogAnchor.KmsRootKeyUnusable.selector);
        kms.registerLogKey(LOG_PUB, sig);
    }

    // ------------------------------------------------------------ publication

    function test_publish_growingSizes() public {
        _register(kms);
        vm.roll(100);
        bytes memory sig = _sign(ROOT_PK, kms.checkpointDigest(logId, 5, ROOT_A));
        vm.expectEmit(address(kms));
        emit KeygateLogAnchor.CheckpointPublished(logId, 5, ROOT_A, sig);
        vm.prank(STRANGER);
        kms.publishCheckpoint(logId, 5, ROOT_A, sig);
        (, uint64 size, bytes32 root, uint64 at) = kms.logCheckpoint(logId);
        assertEq(size, 5, "size");
        assertEq(root, ROOT_A, "root");
        assertEq(at, 100, "block");
        _publish(kms, 9, ROOT_B);
        (, size, root,) = kms.logCheckpoint(logId);
        assertEq(size, 9, "grown");
        assertEq(root, ROOT_B, "new root");
    }

    function test_publish_unregistered_reverts() public {
        bytes memory sig = _sign(ROOT_PK, kms.checkpointDigest(logId, 1, ROOT_A));
        vm.expectRevert(abi.encodeWithSelector(KeygateLogAnchor.KmsLogNotRegistered.selector, logId));
        kms.publishCheckpoint(logId, 1, ROOT_A, sig);
    }

    function test_publish_wrongSigner_reverts() public {
        _register(kms);
        bytes memory sig = _sign(OTHER_PK, kms.checkpointDigest(logId, 1, ROOT_A));
        vm.expectRevert(_badSig(vm.addr(OTHER_PK)));
        kms.publishCheckpoint(logId, 1, ROOT_A, sig);
    }

    function test_publish_shrinkingSize_reverts() public {
        _register(kms);
        _publish(kms, 10, ROOT_A);
        bytes memory sig = _sign(ROOT_PK, kms.checkpointDigest(logId, 9, ROOT_B));
        vm.expectRevert(abi.encodeWithSelector(KeygateLogAnchor.KmsLogRollback.selector, logId, 10, 9));
        kms.publishCheckpoint(logId, 9, ROOT_B, sig);
    }

    function test_publish_fork_reverts() public {
        _register(kms);
        _publish(kms, 10, ROOT_A);
        bytes memory sig = _sign(ROOT_PK, kms.checkpointDigest(logId, 10, ROOT_B));
        vm.expectRevert(abi.encodeWithSelector(KeygateLogAnchor.KmsLogFork.selector, logId, 10, ROOT_A, ROOT_B));
        kms.publishCheckpoint(logId, 10, ROOT_B, sig);
        (, uint64 size, bytes32 root,) = kms.logCheckpoint(logId);
        assertEq(size, 10, "size kept");
        assertEq(root, ROOT_A, "first tree kept");
    }

    function test_publish_sameCheckpointTwice_reverts() public {
        _register(kms);
        _publish(kms, 10, ROOT_A);
        bytes memory sig = _sign(ROOT_PK, kms.checkpointDigest(logId, 10, ROOT_A));
        vm.expectRevert(abi.encodeWithSelector(KeygateLogAnchor.KmsLogCheckpointPublished.selector, logId, 10));
        kms.publishCheckpoint(logId, 10, ROOT_A, sig);
    }

    function test_publish_replayOnAnotherChain_reverts() public {
        _register(kms);
        bytes memory sig = _sign(ROOT_PK, kms.checkpointDigest(logId, 3, ROOT_A));
        vm.chainId(block.chainid + 1);
        // the digest differs there, so the signature recovers to an unrelated address
        vm.expectRevert(_badSig(_recover(kms.checkpointDigest(logId, 3, ROOT_A), sig)));
        kms.publishCheckpoint(logId, 3, ROOT_A, sig);
    }

    function test_publish_replayOnAnotherContract_reverts() public {
        KeygateKms other = _newKms(address(0));
        _setRoot(other, ROOT_PK); // the same root key
        _register(kms);
        _register(other);
        bytes memory sig = _sign(ROOT_PK, kms.checkpointDigest(logId, 3, ROOT_A));
        vm.expectRevert(_badSig(_recover(other.checkpointDigest(logId, 3, ROOT_A), sig)));
        other.publishCheckpoint(logId, 3, ROOT_A, sig);
        kms.publishCheckpoint(logId, 3, ROOT_A, sig); // where it was signed for, it is good
    }

    function test_publish_afterRootKeyChange_onlyNewKey() public {
        _register(kms);
        _setRoot(kms, OTHER_PK);
        bytes memory oldSig = _sign(ROOT_PK, kms.checkpointDigest(logId, 3, ROOT_A));
        vm.expectRevert(_badSig(vm.addr(ROOT_PK)));
        kms.publishCheckpoint(logId, 3, ROOT_A, oldSig);
        kms.publishCheckpoint(logId, 3, ROOT_A, _sign(OTHER_PK, kms.checkpointDigest(logId, 3, ROOT_A)));
    }

    // ------------------------------------------------------------ digests and storage

    function test_digest_isEip712() public view {
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("KeygateKms"),
                keccak256("1"),
                block.chainid,
                address(kms)
            )
        );
        assertEq(kms.logDomainSeparator(), domain, "domain");
        bytes32 st = keccak256(
            abi.encode(
                keccak256("LogCheckpoint(bytes32 logId,uint64 treeSize,bytes32 rootHash)"), logId, uint64(7), ROOT_A
            )
        );
        assertEq(
            kms.checkpointDigest(logId, 7, ROOT_A), keccak256(abi.encodePacked(hex"1901", domain, st)), "checkpoint"
        );
        st = keccak256(abi.encode(keccak256("LogKey(bytes32 publicKey)"), LOG_PUB));
        assertEq(kms.logKeyDigest(LOG_PUB), keccak256(abi.encodePacked(hex"1901", domain, st)), "log key");
    }

    /// The anchor's state is ERC-7201 namespaced: the linear slots of KeygateKms are untouched.
    function test_storage_namespaced() public {
        bytes32 base =
            keccak256(abi.encode(uint256(keccak256("keygate.storage.LogAnchor")) - 1)) & ~bytes32(uint256(0xff));
        _register(kms);
        _publish(kms, 4, ROOT_A);
        bytes32 s = keccak256(abi.encode(logId, base));
        assertEq(vm.load(address(kms), s), LOG_PUB, "publicKey at the namespaced mapping");
        assertEq(vm.load(address(kms), bytes32(uint256(s) + 2)), ROOT_A, "rootHash");
        assertEq(uint256(vm.load(address(kms), bytes32(uint256(base) + 1))), 1, "logIds length");
    }

    // ------------------------------------------------------------ fuzz

    /// Whatever sequence of signed checkpoints is submitted, the published size never shrinks,
    /// a size is never published with two roots, and exactly the growing ones are accepted.
    function testFuzz_sizeNeverShrinks(uint64[] calldata sizes, bool[] calldata otherRoot) public {
        _register(kms);
        uint64 have;
        bytes32 haveRoot;
        uint256 n = sizes.length > 24 ? 24 : sizes.length;
        for (uint256 i = 0; i < n; i++) {
            uint64 size = uint64(bound(sizes[i], 0, 40));
            bytes32 root = i < otherRoot.length && otherRoot[i] ? ROOT_B : keccak256(abi.encode(size));
            bytes memory sig = _sign(ROOT_PK, kms.checkpointDigest(logId, size, root));
            (bool ok,) = address(kms).call(abi.encodeCall(KeygateLogAnchor.publishCheckpoint, (logId, size, root, sig)));
            assertEq(ok, size > have, "accepted exactly when larger");
            if (ok) (have, haveRoot) = (size, root);
            (, uint64 s, bytes32 r,) = kms.logCheckpoint(logId);
            assertEq(s, have, "published size");
            assertEq(r, haveRoot, "published root");
        }
    }

    /// A signature by any key other than the root is refused, for any checkpoint.
    function testFuzz_wrongSigner(uint256 pk, uint64 size, bytes32 root) public {
        pk = bound(pk, 1, K256_N - 1);
        vm.assume(pk != ROOT_PK);
        _register(kms);
        bytes memory sig = _sign(pk, kms.checkpointDigest(logId, size, root));
        vm.expectRevert(_badSig(vm.addr(pk)));
        kms.publishCheckpoint(logId, size, root, sig);
    }

    /// A root signature binds log, size and root: any other triple is refused.
    function testFuzz_signatureBindsCheckpoint(uint64 size, bytes32 root, uint64 size2, bytes32 root2) public {
        vm.assume(size2 > 0 && (size != size2 || root != root2));
        _register(kms);
        bytes memory sig = _sign(ROOT_PK, kms.checkpointDigest(logId, size, root));
        (bool ok,) = address(kms).call(abi.encodeCall(KeygateLogAnchor.publishCheckpoint, (logId, size2, root2, sig)));
        assertFalse(ok, "signature accepted for another checkpoint");
    }
}
