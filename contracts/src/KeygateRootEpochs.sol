// SPDX-License-Identifier: Apache-2.0
// KeygateRootEpochs - the KMS root-key epochs on KeygateKms: proposal of an attested new root, guardian veto, activation after the notice, retirement (docs/design.md, "Root-key epochs"); an external library so KeygateKms stays under the EIP-170 code size limit.
pragma solidity ^0.8.24;

import {IAppAuth} from "./IAppAuth.sol";
import {KeygateK256} from "./KeygateK256.sol";
// Only for the type of its KMS info (activation rewrites the keys of it); a circular import,
// which Solidity resolves: no code of KeygateKms is part of this library.
import {KeygateKms} from "./KeygateKms.sol";

/// @dev The two views of {KeygateKms} a proposal is checked against, called on the KMS proxy itself.
interface IKeygateKmsPolicy {
    function isKmsAllowed(IAppAuth.AppBootInfo calldata bootInfo) external view returns (bool, string memory);
    function guaranteedNotice() external view returns (uint64);
}

/**
 * @title KeygateRootEpochs
 * @notice A KMS root (root CA P-256 key + root secp256k1 key) is an epoch. Epoch 0 is the root
 *         {KeygateKms-kmsInfo} published first; epoch n > 0 is a fresh root generated inside an
 *         allowed KMS node's TEE, whose quote binds its public keys and number (docs/design.md,
 *         "Root-key epochs"). Life of an epoch: Proposed (owner, with the quote's hash), then
 *         either vetoed by the guardian before its activation time (deleted; the number can be
 *         proposed again) or made Current by the owner from that time on, which makes the
 *         previous Current Retiring and {KeygateKms-kmsInfo}'s keys the new ones; then Retired
 *         by the owner once apps have migrated. KMS nodes release a Retiring epoch's keys next
 *         to the current ones and wipe a Retired epoch's root.
 * @dev Linked into {KeygateKms} and only delegatecalled by it: the storage is the KMS proxy's,
 *      in the ERC-7201 namespace `keygate.storage.KmsRootEpochs`, so the sequential layout and
 *      its gap are untouched. Its events and errors are declared on {KeygateKms} too, with the
 *      same signatures, so they are in that contract's ABI; the log entries come from the KMS
 *      proxy's address. Access control is the caller's; the notice period and the proposer's
 *      allow-list check are read from the KMS proxy ({IKeygateKmsPolicy}) so they are exactly
 *      the ones every other change and {KeygateKms-isKmsAllowed} use.
 *      The public keys of every epoch stay on chain after retirement: decision logs and
 *      signatures made under a retired root must remain verifiable.
 */
library KeygateRootEpochs {
    uint8 internal constant NONE = 0;
    uint8 internal constant PROPOSED = 1;
    uint8 internal constant CURRENT = 2;
    uint8 internal constant RETIRING = 3;
    uint8 internal constant RETIRED = 4;

    /// @notice Upper bound on a root CA SubjectPublicKeyInfo's length (a P-256 one is 91 bytes;
    ///         KMS nodes refuse longer ones).
    uint256 internal constant MAX_CA_PUBKEY = 512;

    struct Epoch {
        uint8 status;
        uint64 activatesAt;
        bytes32 attestationHash; // keccak256 of the proposing node's quote
        bytes caPubkey; // SubjectPublicKeyInfo DER
        bytes k256Pubkey; // 33-byte compressed
    }

    /// @custom:storage-location erc7201:keygate.storage.KmsRootEpochs
    struct Layout {
        uint32 current;
        mapping(uint32 => Epoch) epochs; // epoch 0 is recorded here only once epoch 1 is activated
    }

    // keccak256(abi.encode(uint256(keccak256("keygate.storage.KmsRootEpochs")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant _SLOT = 0x066143dc65d8c90f3682f7242118d6130b766d8e474579a517d062fbd6293600;

    bytes32 private constant _POLICY_PROPOSAL = keccak256("root-epoch-proposal");
    bytes32 private constant _POLICY_EPOCH = keccak256("root-epoch");

    event RootEpochProposed(
        uint32 indexed epoch,
        bytes caPubkey,
        bytes k256Pubkey,
        bytes32 attestationHash,
        uint64 activatesAt,
        bytes quote,
        bytes eventlog
    );
    event RootEpochVetoed(uint32 indexed epoch);
    event RootEpochActivated(uint32 indexed epoch);
    event RootEpochRetired(uint32 indexed epoch);
    event KmsInfoSet(bytes k256Pubkey);
    event PolicyChanged(address indexed actor, bytes32 indexed policy, bytes32 indexed value, bool enabled);

    error KmsRootEpochWrongNumber(uint32 epoch, uint32 expected);
    error KmsRootEpochAlreadyPending(uint32 epoch);
    error KmsRootEpochK256KeyInvalid();
    error KmsRootEpochCaKeyInvalid(uint256 length);
    error KmsRootEpochAttestationMismatch(bytes32 attestationHash, bytes32 quoteHash);
    error KmsRootEpochProposerNotAllowed(string reason);
    error KmsRootEpochNotPending(uint32 epoch);
    error KmsRootEpochNotReady(uint32 epoch, uint64 activatesAt);
    error KmsRootEpochNotRetiring(uint32 epoch, uint8 status);

    /**
     * @notice Records the proposal of `epoch` (which must be the current one + 1, with none
     *         pending), activatable from now + the KMS's guaranteed notice on.
     * @dev The proposer identity (aggregated MR, device, OS image) must be allowed now by
     *      {KeygateKms-isKmsAllowed}; its TCB status is not part of this call: the nodes that
     *      adopt the epoch verify the quote itself (the KMS's DCAP verification, which decides
     *      on TCB). The quote and event log only go to the event (a quote on chain would cost
     *      ~3 M gas); its keccak256 is stored.
     */
    function propose(
        uint32 epoch,
        bytes memory caPubkey,
        bytes memory k256Pubkey,
        bytes32 attestationHash,
        bytes32[3] memory proposer, // aggregated MR, device id, OS image hash
        bytes memory quote,
        bytes memory eventlog
    ) external {
        Layout storage $ = _layout();
        if (epoch != $.current + 1) revert KmsRootEpochWrongNumber(epoch, $.current + 1);
        Epoch storage e = $.epochs[epoch];
        if (e.status != NONE) revert KmsRootEpochAlreadyPending(epoch);
        if (KeygateK256.tryAddressOf(k256Pubkey) == address(0)) revert KmsRootEpochK256KeyInvalid();
        if (caPubkey.length == 0 || caPubkey.length > MAX_CA_PUBKEY) revert KmsRootEpochCaKeyInvalid(caPubkey.length);
        if (quote.length == 0 || attestationHash != keccak256(quote)) {
            revert KmsRootEpochAttestationMismatch(attestationHash, keccak256(quote));
        }
        _requireAllowedProposer(proposer);
        uint64 at = uint64(block.timestamp) + IKeygateKmsPolicy(address(this)).guaranteedNotice();
        e.status = PROPOSED;
        e.activatesAt = at;
        e.attestationHash = attestationHash;
        e.caPubkey = caPubkey;
        e.k256Pubkey = k256Pubkey;
        emit RootEpochProposed(epoch, caPubkey, k256Pubkey, attestationHash, at, quote, eventlog);
        emit PolicyChanged(msg.sender, _POLICY_PROPOSAL, bytes32(uint256(epoch)), true);
    }

    /// @notice Deletes the proposal of `epoch` before its activation time (the caller is the guardian).
    function veto(uint32 epoch) external {
        Epoch storage e = _layout().epochs[epoch];
        if (e.status != PROPOSED || block.timestamp >= e.activatesAt) revert KmsRootEpochNotPending(epoch);
        delete e.status;
        delete e.activatesAt;
        delete e.attestationHash;
        delete e.caPubkey;
        delete e.k256Pubkey;
        emit RootEpochVetoed(epoch);
        emit PolicyChanged(msg.sender, _POLICY_PROPOSAL, bytes32(uint256(epoch)), false);
    }

    /**
     * @notice Makes the proposed `epoch` Current from its activation time on: the previous
     *         Current becomes Retiring and the keys of `info` ({KeygateKms-kmsInfo}) become the
     *         new epoch's (its quote and event log stay the bootstrap ones).
     * @dev On the first activation, epoch 0's keys are copied from `info` first.
     */
    function activate(uint32 epoch, KeygateKms.KmsInfo storage info) external {
        Layout storage $ = _layout();
        Epoch storage e = $.epochs[epoch];
        if (e.status != PROPOSED) revert KmsRootEpochNotPending(epoch);
        if (block.timestamp < e.activatesAt) revert KmsRootEpochNotReady(epoch, e.activatesAt);
        Epoch storage previous = $.epochs[$.current];
        if ($.current == 0) {
            previous.caPubkey = info.caPubkey;
            previous.k256Pubkey = info.k256Pubkey;
        }
        previous.status = RETIRING;
        e.status = CURRENT;
        $.current = epoch;
        info.k256Pubkey = e.k256Pubkey;
        info.caPubkey = e.caPubkey;
        emit RootEpochActivated(epoch);
        emit KmsInfoSet(e.k256Pubkey);
        emit PolicyChanged(msg.sender, _POLICY_EPOCH, bytes32(uint256(epoch)), true);
    }

    /// @notice Marks the Retiring `epoch` Retired (its public keys stay readable).
    function retire(uint32 epoch) external {
        Epoch storage e = _layout().epochs[epoch];
        if (e.status != RETIRING) revert KmsRootEpochNotRetiring(epoch, status(epoch));
        e.status = RETIRED;
        emit RootEpochRetired(epoch);
        emit PolicyChanged(msg.sender, _POLICY_EPOCH, bytes32(uint256(epoch)), false);
    }

    /// @notice The Current epoch's number (0 until a rotation).
    function current() internal view returns (uint32) {
        return _layout().current;
    }

    /**
     * @notice An epoch's status, public keys, activation time and attestation hash. Epoch 0
     *         before any rotation is (Current, `info`'s keys, 0, 0): the root of
     *         {KeygateKms-kmsInfo}; an epoch never proposed (or vetoed) is all zero.
     */
    function get(uint32 epoch, KeygateKms.KmsInfo storage info)
        external
        view
        returns (uint8, bytes memory, bytes memory, uint64, bytes32)
    {
        Layout storage $ = _layout();
        if (epoch == 0 && $.current == 0) return (CURRENT, info.caPubkey, info.k256Pubkey, 0, bytes32(0));
        Epoch storage e = $.epochs[epoch];
        return (e.status, e.caPubkey, e.k256Pubkey, e.activatesAt, e.attestationHash);
    }

    function status(uint32 epoch) internal view returns (uint8) {
        Layout storage $ = _layout();
        if (epoch == 0 && $.current == 0) return CURRENT;
        return $.epochs[epoch].status;
    }

    /// @dev Reverts {KmsRootEpochProposerNotAllowed} with {KeygateKms-isKmsAllowed}'s reason
    ///      unless the identity is allowed at this block.
    function _requireAllowedProposer(bytes32[3] memory proposer) private view {
        IAppAuth.AppBootInfo memory b;
        b.mrAggregated = proposer[0];
        b.deviceId = proposer[1];
        b.osImageHash = proposer[2];
        b.tcbStatus = "UpToDate"; // see {propose}: the quote's TCB is the verifying nodes' check
        (bool allowed, string memory reason) = IKeygateKmsPolicy(address(this)).isKmsAllowed(b);
        if (!allowed) revert KmsRootEpochProposerNotAllowed(reason);
    }

    function _layout() private pure returns (Layout storage $) {
        assembly {
            $.slot := _SLOT
        }
    }
}
