// SPDX-License-Identifier: Apache-2.0
// Test - a minimal test base: the cheatcode handle, assertions that revert with custom errors, bound().
pragma solidity ^0.8.24;

import {Vm} from "./Vm.sol";

abstract contract Test {
    /// @dev forge serves cheatcodes at address(uint160(uint256(keccak256("hevm cheat code")))).
    Vm internal constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);

    error AssertionFailed(string what);
    error AssertionFailedUint(string what, uint256 got, uint256 want);
    error AssertionFailedBytes32(string what, bytes32 got, bytes32 want);
    error AssertionFailedAddress(string what, address got, address want);
    error AssertionFailedString(string what, string got, string want);

    function assertTrue(bool cond, string memory what) internal pure {
        if (!cond) revert AssertionFailed(what);
    }

    function assertFalse(bool cond, string memory what) internal pure {
        if (cond) revert AssertionFailed(what);
    }

    function assertEq(uint256 got, uint256 want, string memory what) internal pure {
        if (got != want) revert AssertionFailedUint(what, got, want);
    }

    function assertEq(bytes32 got, bytes32 want, string memory what) internal pure {
        if (got != want) revert AssertionFailedBytes32(what, got, want);
    }

    function assertEq(address got, address want, string memory what) internal pure {
        if (got != want) revert AssertionFailedAddress(what, got, want);
    }

    function assertEq(bool got, bool want, string memory what) internal pure {
        if (got != want) revert AssertionFailed(what);
    }

    function assertEq(string memory got, string memory want, string memory what) internal pure {
        if (keccak256(bytes(got)) != keccak256(bytes(want))) revert AssertionFailedString(what, got, want);
    }

    function assertEq(bytes memory got, bytes memory want, string memory what) internal pure {
        if (keccak256(got) != keccak256(want)) revert AssertionFailed(what);
    }

    /// @dev Maps a fuzzed `x` into [lo, hi] without discarding runs.
    function bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        require(lo <= hi, "bound: lo > hi");
        uint256 span = hi - lo;
        if (span == type(uint256).max) return x;
        return lo + (x % (span + 1));
    }
}
