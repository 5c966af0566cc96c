// SPDX-License-Identifier: Apache-2.0
// DaoToken - an OpenZeppelin ERC20Votes token: the voting power of the example DAO that governs an app.
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/**
 * @title DaoToken
 * @notice Fixed-supply voting token (block-number clock): `amounts[i]` minted to `holders[i]`.
 *         Holders must delegate (to themselves) before their balance counts as votes.
 */
contract DaoToken is ERC20, ERC20Permit, ERC20Votes {
    /// @notice `holders` and `amounts` differ in length.
    error DaoTokenLengthMismatch(uint256 holders, uint256 amounts);

    constructor(address[] memory holders, uint256[] memory amounts)
        ERC20("Keygate DAO", "KGDAO")
        ERC20Permit("Keygate DAO")
    {
        if (holders.length != amounts.length) {
            revert DaoTokenLengthMismatch(holders.length, amounts.length);
        }
        for (uint256 i = 0; i < holders.length; ++i) {
            _mint(holders[i], amounts[i]);
        }
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
    }

    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }
}
