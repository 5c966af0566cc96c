// SPDX-License-Identifier: Apache-2.0
// KeygateLogAnchor - the decision log's anchor on chain: KMS nodes' log keys and their checkpoints, authenticated by the KMS root secp256k1 key (docs/design.md, "The decision log").
pragma solidity ^0.8.24;

import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

import {KeygateK256} from "./KeygateK256.sol";

/**
 * @title KeygateLogAnchor
 * @notice Each KMS node keeps a verifiable log of its key-release decisions and signs its tree
 *         heads with its own Ed25519 log key. This contract makes that log public beyond the
 *         node's operator:
 *           - {registerLogKey}: a node's log key, certified by the KMS root secp256k1 key (the
 *             `k256Pubkey` of {kmsInfo}). Registration is how a node joining the deployment
 *             (onboarding, replication) becomes public.
 *           - {publishCheckpoint}: a registered log's tree size and root hash, signed by the
 *             KMS root key. Sizes only grow; an equal size with another root (a fork) and a
 *             smaller size (a rollback) are refused.
 * @dev Anyone may submit: the root key's signature is what authenticates, so the transaction's
 *      sender is irrelevant. Signatures are EIP-712 typed data under the domain
 *      {name: "KeygateKms", version: "1", chainId, verifyingContract: this proxy}, so a
 *      signature is good for one chain and one deployment only:
 *        LogKey(bytes32 publicKey)
 *        LogCheckpoint(bytes32 logId,uint64 treeSize,bytes32 rootHash)
 *      The log id is SHA-256 of the Ed25519 public key (the `node_id` in every log entry; the
 *      log's origin is "keygate.kms/" followed by the hex of its first 8 bytes).
 *
 *      The signer is checked against the root key published at the time of the call: after a
 *      root key change only the new key can publish, for logs registered under either.
 *
 *      A fork is refused rather than recorded: a reverted call cannot leave an event, and
 *      refusing keeps one linear history on chain. The evidence stays with whoever holds the
 *      second signed tree, and `keygate audit verify` checks every served or stored log against
 *      the published checkpoints (RFC 9162 consistency proofs), reporting a fork or a rollback.
 *
 *      State lives in ERC-7201 namespaced storage, so adding this contract to {KeygateKms}
 *      moved none of its slots.
 */
abstract contract KeygateLogAnchor {
    /// @dev One registered log: its key and the newest published checkpoint (size 0: none yet).
    struct LogState {
        bytes32 publicKey; // Ed25519; zero = not registered
        uint64 treeSize;
        uint64 publishedAt; // block number of the newest checkpoint
        bytes32 rootHash;
    }

    /// @custom:storage-location erc7201:keygate.storage.LogAnchor
    struct LogAnchorStorage {
        mapping(bytes32 => LogState) logs;
        bytes32[] logIds;
    }

    // keccak256(abi.encode(uint256(keccak256("keygate.storage.LogAnchor")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant _LOG_ANCHOR_STORAGE = 0xda1dbc2279787a2fac3967cec4b6a9e1dc447d5a3009d2049843d5671d499c00;

    bytes32 private constant _DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant _LOG_KEY_TYPEHASH = keccak256("LogKey(bytes32 publicKey)");
    bytes32 private constant _CHECKPOINT_TYPEHASH =
        keccak256("LogCheckpoint(bytes32 logId,uint64 treeSize,bytes32 rootHash)");

    /// @notice Emitted when the log key `publicKey` (log id `logId`) was registered with the root key's signature.
    event LogKeyRegistered(bytes32 indexed logId, bytes32 publicKey);
    /// @notice Emitted when a checkpoint of `logId` was published; `signature` is the root key's, so
    ///         anyone can check it again from the event alone.
    event CheckpointPublished(bytes32 indexed logId, uint64 treeSize, bytes32 rootHash, bytes signature);

    /// @notice The published KMS root key is not a compressed secp256k1 public key (or none is published).
    error KmsRootKeyUnusable();
    /// @notice The signature is malformed or was not made by the KMS root key.
    error KmsLogSignatureInvalid(address recovered);
    /// @notice `publicKey` is zero.
    error KmsLogKeyInvalid();
    /// @notice The log `logId` is already registered.
    error KmsLogAlreadyRegistered(bytes32 logId);
    /// @notice The log `logId` is not registered.
    error KmsLogNotRegistered(bytes32 logId);
    /// @notice `treeSize` is smaller than the published `publishedSize` (a rollback).
    error KmsLogRollback(bytes32 logId, uint64 publishedSize, uint64 treeSize);
    /// @notice The tree of `treeSize` is already published with another root (a fork).
    error KmsLogFork(bytes32 logId, uint64 treeSize, bytes32 publishedRoot, bytes32 rootHash);
    /// @notice This very checkpoint is already the published one.
    error KmsLogCheckpointPublished(bytes32 logId, uint64 treeSize);

    /// @dev The KMS root secp256k1 public key as published (33-byte compressed).
    function _logRootK256() internal view virtual returns (bytes memory);

    // ------------------------------------------------------------------ writes

    /**
     * @notice Register a KMS node's Ed25519 log key, certified by the KMS root key.
     * @dev Anyone may submit. Requirements: `publicKey` non-zero and not registered;
     *      `signature` (65 bytes r || s || v, v in {0, 1, 27, 28}) by the root key over
     *      {logKeyDigest}. Emits {LogKeyRegistered}.
     * @return logId SHA-256 of `publicKey`.
     */
    function registerLogKey(bytes32 publicKey, bytes calldata signature) external returns (bytes32 logId) {
        if (publicKey == bytes32(0)) revert KmsLogKeyInvalid();
        _requireRootSignature(logKeyDigest(publicKey), signature);
        logId = sha256(abi.encodePacked(publicKey));
        LogAnchorStorage storage $ = _anchorStorage();
        if ($.logs[logId].publicKey != bytes32(0)) revert KmsLogAlreadyRegistered(logId);
        $.logs[logId].publicKey = publicKey;
        $.logIds.push(logId);
        emit LogKeyRegistered(logId, publicKey);
    }

    /**
     * @notice Publish a checkpoint (tree size and RFC 9162 root hash) of a registered log.
     * @dev Anyone may submit. Requirements: `logId` registered; `signature` by the root key
     *      over {checkpointDigest}; `treeSize` larger than the published size, or equal with
     *      the same root (then it reverts {KmsLogCheckpointPublished}: nothing new). A smaller
     *      size reverts {KmsLogRollback}, an equal size with another root {KmsLogFork}.
     *      Emits {CheckpointPublished}.
     */
    function publishCheckpoint(bytes32 logId, uint64 treeSize, bytes32 rootHash, bytes calldata signature) external {
        LogState storage s = _anchorStorage().logs[logId];
        if (s.publicKey == bytes32(0)) revert KmsLogNotRegistered(logId);
        _requireRootSignature(checkpointDigest(logId, treeSize, rootHash), signature);
        uint64 published = s.treeSize;
        if (treeSize < published) revert KmsLogRollback(logId, published, treeSize);
        if (treeSize == published) {
            if (rootHash != s.rootHash) revert KmsLogFork(logId, treeSize, s.rootHash, rootHash);
            revert KmsLogCheckpointPublished(logId, treeSize);
        }
        s.treeSize = treeSize;
        s.rootHash = rootHash;
        s.publishedAt = uint64(block.number);
        emit CheckpointPublished(logId, treeSize, rootHash, signature);
    }

    // ------------------------------------------------------------------ reads

    /// @notice A log's key and newest published checkpoint; `publicKey` is zero for an unknown log.
    function logCheckpoint(bytes32 logId)
        external
        view
        returns (bytes32 publicKey, uint64 treeSize, bytes32 rootHash, uint64 publishedAt)
    {
        LogState storage s = _anchorStorage().logs[logId];
        return (s.publicKey, s.treeSize, s.rootHash, s.publishedAt);
    }

    /// @notice Every registered log id, in registration order.
    function logIds() external view returns (bytes32[] memory) {
        return _anchorStorage().logIds;
    }

    /// @notice The EIP-712 domain separator of this deployment's log signatures.
    function logDomainSeparator() public view returns (bytes32) {
        return
            keccak256(
                abi.encode(_DOMAIN_TYPEHASH, keccak256("KeygateKms"), keccak256("1"), block.chainid, address(this))
            );
    }

    /// @notice The digest the root key signs to certify the log key `publicKey`.
    function logKeyDigest(bytes32 publicKey) public view returns (bytes32) {
        return
            MessageHashUtils.toTypedDataHash(logDomainSeparator(), keccak256(abi.encode(_LOG_KEY_TYPEHASH, publicKey)));
    }

    /// @notice The digest the root key signs to publish a checkpoint.
    function checkpointDigest(bytes32 logId, uint64 treeSize, bytes32 rootHash) public view returns (bytes32) {
        return MessageHashUtils.toTypedDataHash(
            logDomainSeparator(), keccak256(abi.encode(_CHECKPOINT_TYPEHASH, logId, treeSize, rootHash))
        );
    }

    // ------------------------------------------------------------------ internals

    function _anchorStorage() private pure returns (LogAnchorStorage storage $) {
        assembly {
            $.slot := _LOG_ANCHOR_STORAGE
        }
    }

    /// @dev Reverts unless `signature` over `digest` was made by the published root key
    ///      ({KeygateK256-requireSignedBy}: a linked library, for {KeygateKms}'s code size).
    function _requireRootSignature(bytes32 digest, bytes calldata signature) private view {
        KeygateK256.requireSignedBy(_logRootK256(), digest, signature);
    }
}
