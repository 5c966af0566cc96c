// SPDX-License-Identifier: Apache-2.0
// KeygateK256 - checks of the KMS root secp256k1 key on chain (compressed key to address, a signature by it); an external library so KeygateKms stays under the EIP-170 code size limit.
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/**
 * @title KeygateK256
 * @notice The secp256k1 arithmetic {KeygateLogAnchor} and {KeygateRootEpochs} need on a
 *         compressed public key: its Ethereum address (the point decompressed and checked on
 *         the curve) and whether a 65-byte signature over a digest was made by it.
 * @dev {requireSignedBy} is linked into {KeygateKms} (an external view function, called by
 *      DELEGATECALL in the KMS proxy's context; it reads no storage). Its errors are declared
 *      on {KeygateLogAnchor} too, with the same signatures, so they are in the KMS's ABI.
 */
library KeygateK256 {
    /// @dev secp256k1's field prime.
    uint256 private constant _P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F;

    /// @notice The published KMS root key is not a compressed secp256k1 public key (or none is published).
    error KmsRootKeyUnusable();
    /// @notice The signature is malformed or was not made by the KMS root key.
    error KmsLogSignatureInvalid(address recovered);

    /// @notice Reverts unless `signature` (65 bytes r || s || v, v in {0, 1, 27, 28}) over
    ///         `digest` recovers to the address of the compressed key `pk`.
    /// @dev ECDSA.tryRecover refuses malleable (high-s) signatures and v other than 27/28.
    function requireSignedBy(bytes memory pk, bytes32 digest, bytes calldata signature) external view {
        address key = addressOf(pk);
        address signer;
        if (signature.length == 65) {
            uint8 v = uint8(signature[64]);
            if (v < 27) v += 27;
            (address recovered, ECDSA.RecoverError err,) =
                ECDSA.tryRecover(digest, v, bytes32(signature[0:32]), bytes32(signature[32:64]));
            if (err == ECDSA.RecoverError.NoError) signer = recovered;
        }
        if (signer == address(0) || signer != key) revert KmsLogSignatureInvalid(signer);
    }

    /// @notice The Ethereum address of a compressed secp256k1 public key; reverts
    ///         {KmsRootKeyUnusable} unless it is one ({tryAddressOf}).
    function addressOf(bytes memory pk) internal view returns (address a) {
        a = tryAddressOf(pk);
        if (a == address(0)) revert KmsRootKeyUnusable();
    }

    /// @notice The Ethereum address of a compressed secp256k1 public key, or zero unless `pk`
    ///         is 33 bytes, starts with 0x02 or 0x03 and its x is on the curve.
    /// @dev y is recovered from x as (x^3 + 7)^((p + 1) / 4) mod p (p = 3 mod 4) with the modexp
    ///      precompile, then checked.
    function tryAddressOf(bytes memory pk) internal view returns (address) {
        if (pk.length != 33 || (pk[0] != 0x02 && pk[0] != 0x03)) return address(0);
        uint256 x;
        assembly {
            x := mload(add(pk, 33))
        }
        if (x >= _P) return address(0);
        uint256 rhs = addmod(mulmod(mulmod(x, x, _P), x, _P), 7, _P);
        (bool ok, bytes memory out) = address(5).staticcall(abi.encode(32, 32, 32, rhs, (_P + 1) / 4, _P));
        if (!ok || out.length != 32) return address(0);
        uint256 y = abi.decode(out, (uint256));
        if (mulmod(y, y, _P) != rhs) return address(0); // x is not on the curve
        if ((y & 1) != uint8(pk[0]) - 2) y = _P - y;
        return address(uint160(uint256(keccak256(abi.encodePacked(x, y)))));
    }
}
