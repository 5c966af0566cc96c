// SPDX-License-Identifier: Apache-2.0
// KeygateAppDeployer - the app factory's proxy creation for KeygateKms, an external library so the ERC1967Proxy creation code is not part of KeygateKms (EIP-170 code size limit).
pragma solidity ^0.8.24;

import {ERC1967Proxy} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";

/**
 * @title KeygateAppDeployer
 * @notice Creates an app's ERC1967 proxy for {KeygateKms}'s factory.
 * @dev Linked into {KeygateKms} and delegatecalled by it (the compiler refuses direct calls to
 *      its state-changing functions), so the CREATE runs in the KMS proxy's context: the new
 *      proxy's address derives from the KMS's address and nonce, exactly as with an inline
 *      `new`. The proxy constructor runs `init` on `implementation`.
 */
library KeygateAppDeployer {
    function deploy(address implementation, bytes memory init) external returns (address) {
        return address(new ERC1967Proxy(implementation, init));
    }
}
