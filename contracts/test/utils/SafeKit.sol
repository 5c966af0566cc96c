// SPDX-License-Identifier: Apache-2.0
// SafeKit - deploys Safe 1.4.1 from its npm artifacts and signs Safe transactions with forge keys.
pragma solidity ^0.8.24;

import {Test} from "./Test.sol";

/// @notice The Safe 1.4.1 functions keygate's tests use (signatures as in Safe.sol).
interface ISafe {
    function setup(
        address[] calldata owners,
        uint256 threshold,
        address to,
        bytes calldata data,
        address fallbackHandler,
        address paymentToken,
        uint256 payment,
        address payable paymentReceiver
    ) external;

    function execTransaction(
        address to,
        uint256 value,
        bytes calldata data,
        uint8 operation,
        uint256 safeTxGas,
        uint256 baseGas,
        uint256 gasPrice,
        address gasToken,
        address payable refundReceiver,
        bytes memory signatures
    ) external payable returns (bool success);

    function getTransactionHash(
        address to,
        uint256 value,
        bytes calldata data,
        uint8 operation,
        uint256 safeTxGas,
        uint256 baseGas,
        uint256 gasPrice,
        address gasToken,
        address refundReceiver,
        uint256 nonce
    ) external view returns (bytes32);

    function nonce() external view returns (uint256);
    function getThreshold() external view returns (uint256);
    function getOwners() external view returns (address[] memory);
}

/// @notice Safe 1.4.1's proxy factory.
interface ISafeProxyFactory {
    function createProxyWithNonce(address singleton, bytes memory initializer, uint256 saltNonce)
        external
        returns (address proxy);
}

/**
 * @notice Deploys the Safe singleton and proxy factory from the bytecode Safe published in
 *         the npm package safe-contracts 1.4.1 (build/artifacts), creates Safes, and produces
 *         owner signatures (r, s, v) sorted by owner address as `execTransaction` requires.
 */
abstract contract SafeKit is Test {
    string internal constant SAFE_ARTIFACTS = "node_modules/@safe-global/safe-contracts/build/artifacts/contracts/";

    address internal safeSingleton;
    ISafeProxyFactory internal safeFactory;

    function _deployArtifact(string memory path) internal returns (address a) {
        bytes memory code = vm.parseJsonBytes(vm.readFile(string.concat(SAFE_ARTIFACTS, path)), ".bytecode");
        assembly {
            a := create(0, add(code, 0x20), mload(code))
        }
        require(a != address(0), "artifact deployment failed");
    }

    function _deploySafeInfrastructure() internal {
        safeSingleton = _deployArtifact("Safe.sol/Safe.json");
        safeFactory = ISafeProxyFactory(_deployArtifact("proxies/SafeProxyFactory.sol/SafeProxyFactory.json"));
    }

    /// @dev A Safe with `owners` and `threshold`, no modules, no fallback handler.
    function _newSafe(address[] memory owners, uint256 threshold, uint256 salt) internal returns (ISafe) {
        if (safeSingleton == address(0)) _deploySafeInfrastructure();
        bytes memory init = abi.encodeCall(
            ISafe.setup, (owners, threshold, address(0), "", address(0), address(0), 0, payable(address(0)))
        );
        return ISafe(safeFactory.createProxyWithNonce(safeSingleton, init, salt));
    }

    /// @dev The EIP-712 hash the owners sign for a plain call (operation 0, no refund) at the Safe's nonce.
    function _safeTxHash(ISafe safe, address to, bytes memory data) internal view returns (bytes32) {
        return safe.getTransactionHash(to, 0, data, 0, 0, 0, 0, address(0), address(0), safe.nonce());
    }

    /// @dev Signatures of `keys` over `txHash`, concatenated in ascending signer order.
    function _safeSign(uint256[] memory keys, bytes32 txHash) internal pure returns (bytes memory sigs) {
        uint256[] memory k = new uint256[](keys.length);
        for (uint256 i = 0; i < keys.length; ++i) {
            k[i] = keys[i];
        }
        for (uint256 i = 1; i < k.length; ++i) {
            for (uint256 j = i; j > 0 && vm.addr(k[j - 1]) > vm.addr(k[j]); --j) {
                (k[j - 1], k[j]) = (k[j], k[j - 1]);
            }
        }
        for (uint256 i = 0; i < k.length; ++i) {
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(k[i], txHash);
            sigs = abi.encodePacked(sigs, r, s, v);
        }
    }

    /// @dev Executes `data` on `to` from `safe` with the signatures of `keys`.
    function _safeExec(ISafe safe, uint256[] memory keys, address to, bytes memory data) internal returns (bool) {
        bytes memory sigs = _safeSign(keys, _safeTxHash(safe, to, data));
        return safe.execTransaction(to, 0, data, 0, 0, 0, 0, address(0), payable(address(0)), sigs);
    }
}
