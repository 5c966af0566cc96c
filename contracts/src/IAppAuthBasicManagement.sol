// SPDX-License-Identifier: Apache-2.0
// IAppAuthBasicManagement - the allow-list management surface tools use on any app contract.
pragma solidity ^0.8.24;

import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";

/**
 * @title IAppAuthBasicManagement
 * @notice Compose-hash and device allow-lists of an app contract.
 * @dev ABI-compatible with dstack's interface of the same name; ERC-165 interface id `0x8fd37527`.
 */
interface IAppAuthBasicManagement is IERC165 {
    /// @notice Emitted when `composeHash` became allowed.
    event ComposeHashAdded(bytes32 composeHash);
    /// @notice Emitted when `composeHash` stopped being allowed (or a pending proposal was withdrawn).
    event ComposeHashRemoved(bytes32 composeHash);
    /// @notice Emitted when `deviceId` was added to the device allow-list.
    event DeviceAdded(bytes32 deviceId);
    /// @notice Emitted when `deviceId` was removed from the device allow-list.
    event DeviceRemoved(bytes32 deviceId);

    /// @notice Allow `composeHash`. Requirements: caller is the owner. Emits {ComposeHashAdded}.
    function addComposeHash(bytes32 composeHash) external;

    /// @notice Disallow `composeHash` at once. Requirements: caller is the owner. Emits {ComposeHashRemoved}.
    function removeComposeHash(bytes32 composeHash) external;

    /// @notice Allow `deviceId`. Requirements: caller is the owner. Emits {DeviceAdded}.
    function addDevice(bytes32 deviceId) external;

    /// @notice Disallow `deviceId`. Requirements: caller is the owner. Emits {DeviceRemoved}.
    function removeDevice(bytes32 deviceId) external;
}
