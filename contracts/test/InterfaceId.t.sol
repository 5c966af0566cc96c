// SPDX-License-Identifier: Apache-2.0
// InterfaceId.t - the selector and ERC-165 ids that KMS implementations and tools hard-code (docs/protocol.md section 3).
pragma solidity ^0.8.24;

import {Test} from "./utils/Test.sol";
import {IAppAuth} from "../src/IAppAuth.sol";
import {IAppAuthBasicManagement} from "../src/IAppAuthBasicManagement.sol";

contract InterfaceIdTest is Test {
    string internal constant IS_APP_ALLOWED_SIG =
        "isAppAllowed((address,bytes32,address,bytes32,bytes32,bytes32,bytes32,string,string[]))";

    function test_isAppAllowedSelectorFromCanonicalSignature() public pure {
        bytes4 computed = bytes4(keccak256(bytes(IS_APP_ALLOWED_SIG)));
        assertEq(bytes32(computed), bytes32(bytes4(0x1e079198)), "selector from signature");
        assertEq(bytes32(IAppAuth.isAppAllowed.selector), bytes32(computed), "compiler selector");
    }

    function test_appAuthInterfaceIdIsTheSelector() public pure {
        // ERC-165: the id is the XOR of the interface's own selectors; IAppAuth has exactly one.
        assertEq(bytes32(type(IAppAuth).interfaceId), bytes32(bytes4(0x1e079198)), "IAppAuth interface id");
    }

    function test_basicManagementInterfaceId() public pure {
        bytes4 computed = bytes4(keccak256("addComposeHash(bytes32)")) ^ bytes4(keccak256("removeComposeHash(bytes32)"))
            ^ bytes4(keccak256("addDevice(bytes32)")) ^ bytes4(keccak256("removeDevice(bytes32)"));
        assertEq(bytes32(computed), bytes32(bytes4(0x8fd37527)), "computed management id");
        assertEq(bytes32(type(IAppAuthBasicManagement).interfaceId), bytes32(computed), "compiler management id");
    }
}
