// SPDX-License-Identifier: Apache-2.0
// KeygateRecoveryHolders - the recovery holders of sealed root-key files, named on KeygateKms (docs/design.md, "Sealed root keys"); an external library so KeygateKms stays under the EIP-170 code size limit.
pragma solidity ^0.8.24;

/**
 * @title KeygateRecoveryHolders
 * @notice The holders of Shamir shares of every sealed root-key file's data-encryption key:
 *         X25519 public keys and a threshold. A KMS node seals to the holders in force whenever
 *         it writes its sealed file, so new holders could open every file sealed after the
 *         change: {KeygateKms} lets a change take effect at once only without a governance
 *         notice, and otherwise makes it wait out the notice, vetoable by the guardian.
 * @dev Linked into {KeygateKms} and only delegatecalled by it (the compiler refuses direct calls
 *      to its state-changing functions): its storage is the KMS proxy's, in an ERC-7201
 *      namespace of its own so the sequential layout and its gap are untouched. Its events and
 *      errors are declared on {KeygateKms} too, with the same signatures, so they are in that
 *      contract's ABI; the log entries come from the KMS proxy's address. Access control and
 *      the notice period are the caller's.
 */
library KeygateRecoveryHolders {
    /// @notice Upper bound on the number of holders (the KMS's Shamir implementation's).
    uint256 internal constant MAX_HOLDERS = 16;

    /// @custom:storage-location erc7201:keygate.kms.recovery
    struct Layout {
        bytes32[] holders;
        uint8 threshold;
        bytes32[] pendingHolders;
        uint8 pendingThreshold;
        uint64 pendingActivatesAt; // 0 = nothing pending
    }

    // keccak256(abi.encode(uint256(keccak256("keygate.kms.recovery")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant _SLOT = 0xa93a39795a6ec6e2bcf55d59598473818b971cb1b16dc928a37595696c15cc00;

    bytes32 private constant _POLICY_SET = keccak256("recovery-holders");
    bytes32 private constant _POLICY_PROPOSAL = keccak256("recovery-holders-proposal");

    event RecoveryHoldersSet(bytes32[] holders, uint8 threshold);
    event RecoveryHoldersProposed(bytes32[] holders, uint8 threshold, uint64 activatesAt);
    event RecoveryHoldersVetoed(address indexed guardian);
    event PolicyChanged(address indexed actor, bytes32 indexed policy, bytes32 indexed value, bool enabled);

    error KmsInvalidRecoveryThreshold(uint256 count, uint8 threshold);
    error KmsInvalidRecoveryHolder(bytes32 holder);
    error KmsNoPendingRecoveryHolders();

    /// @notice Names `holders` and `threshold` at once and drops a pending proposal.
    function set(bytes32[] calldata holders, uint8 threshold) external {
        _check(holders, threshold);
        Layout storage $ = _layout();
        $.holders = holders;
        $.threshold = threshold;
        _clearPending($);
        emit RecoveryHoldersSet(holders, threshold);
        emit PolicyChanged(msg.sender, _POLICY_SET, keccak256(abi.encode(holders, threshold)), true);
    }

    /// @notice Proposes `holders` and `threshold`, in force `period` seconds from now; a newer
    ///         proposal replaces (and restarts) a pending one.
    function propose(bytes32[] calldata holders, uint8 threshold, uint64 period) external returns (uint64 at) {
        _check(holders, threshold);
        Layout storage $ = _layout();
        _settle($);
        at = uint64(block.timestamp) + period;
        $.pendingHolders = holders;
        $.pendingThreshold = threshold;
        $.pendingActivatesAt = at;
        emit RecoveryHoldersProposed(holders, threshold, at);
        emit PolicyChanged(msg.sender, _POLICY_PROPOSAL, keccak256(abi.encode(holders, threshold)), true);
    }

    /// @notice Drops the pending proposal before it takes effect (the caller is the guardian).
    function veto() external {
        Layout storage $ = _layout();
        uint64 at = $.pendingActivatesAt;
        if (at == 0 || block.timestamp >= at) revert KmsNoPendingRecoveryHolders();
        bytes32 h = keccak256(abi.encode($.pendingHolders, $.pendingThreshold));
        _clearPending($);
        emit RecoveryHoldersVetoed(msg.sender);
        emit PolicyChanged(msg.sender, _POLICY_PROPOSAL, h, false);
    }

    /// @notice The holders and threshold in force at the current block (a matured proposal
    ///         included). Empty with threshold 0: no recovery.
    function current() external view returns (bytes32[] memory, uint8) {
        Layout storage $ = _layout();
        uint64 at = $.pendingActivatesAt;
        if (at != 0 && block.timestamp >= at) return ($.pendingHolders, $.pendingThreshold);
        return ($.holders, $.threshold);
    }

    /// @notice The pending change, if any (activatesAt 0: none).
    function pending() external view returns (bytes32[] memory, uint8, uint64) {
        Layout storage $ = _layout();
        uint64 at = $.pendingActivatesAt;
        if (at == 0 || block.timestamp >= at) return (new bytes32[](0), 0, 0);
        return ($.pendingHolders, $.pendingThreshold, at);
    }

    function _check(bytes32[] calldata holders, uint8 threshold) private pure {
        uint256 n = holders.length;
        if (n > MAX_HOLDERS || threshold > n || (n > 0 && threshold == 0)) {
            revert KmsInvalidRecoveryThreshold(n, threshold);
        }
        for (uint256 i = 0; i < n; i++) {
            if (holders[i] == bytes32(0)) revert KmsInvalidRecoveryHolder(holders[i]);
            for (uint256 j = 0; j < i; j++) {
                if (holders[i] == holders[j]) revert KmsInvalidRecoveryHolder(holders[i]);
            }
        }
    }

    /// @dev Folds a matured pending change into the current holders (no event: it was announced).
    function _settle(Layout storage $) private {
        uint64 at = $.pendingActivatesAt;
        if (at != 0 && block.timestamp >= at) {
            $.holders = $.pendingHolders;
            $.threshold = $.pendingThreshold;
            _clearPending($);
        }
    }

    function _clearPending(Layout storage $) private {
        delete $.pendingHolders;
        delete $.pendingThreshold;
        delete $.pendingActivatesAt;
    }

    function _layout() private pure returns (Layout storage $) {
        assembly {
            $.slot := _SLOT
        }
    }
}
