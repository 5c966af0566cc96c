// SPDX-License-Identifier: Apache-2.0
// Fixture - shared deployment and boot-info helpers for the governance contract tests.
pragma solidity ^0.8.24;

import {ERC1967Proxy} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";
import {Test} from "./utils/Test.sol";
import {IAppAuth} from "../src/IAppAuth.sol";
import {KeygateApp} from "../src/KeygateApp.sol";
import {KeygateKms} from "../src/KeygateKms.sol";

abstract contract Fixture is Test {
    address internal constant OWNER = address(0xA11CE);
    address internal constant GUARDIAN = address(0x6A4D);
    address internal constant STRANGER = address(0xBAD);
    address internal constant NEW_OWNER = address(0xB0B);

    bytes32 internal constant H1 = keccak256("app-compose v1");
    bytes32 internal constant H2 = keccak256("app-compose v2");
    bytes32 internal constant DEV1 = keccak256("device 1");
    bytes32 internal constant DEV2 = keccak256("device 2");
    bytes32 internal constant OS1 = keccak256("os image 1");
    bytes32 internal constant MR1 = keccak256("kms mr 1");

    /// @dev ERC1967 implementation slot: bytes32(uint256(keccak256("eip1967.proxy.implementation")) - 1).
    bytes32 internal constant IMPLEMENTATION_SLOT = 0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc;

    uint64 internal constant NOTICE = 7 days;
    uint64 internal constant T0 = 1_700_000_000;

    KeygateApp internal appImpl;

    function _policy(string memory name) internal pure returns (bytes32) {
        return keccak256(bytes(name));
    }

    function _newApp(bool requireTcb, bool anyDevice, bytes32 device, bytes32 composeHash)
        internal
        returns (KeygateApp)
    {
        if (address(appImpl) == address(0)) appImpl = new KeygateApp();
        bytes memory init = abi.encodeWithSignature(
            "initialize(address,bool,bool,bool,bytes32,bytes32)",
            OWNER,
            false,
            requireTcb,
            anyDevice,
            device,
            composeHash
        );
        return KeygateApp(address(new ERC1967Proxy(address(appImpl), init)));
    }

    function _newNoticeApp(uint64 period, address guardian) internal returns (KeygateApp) {
        if (address(appImpl) == address(0)) appImpl = new KeygateApp();
        bytes memory init = abi.encodeCall(
            KeygateApp.initializeWithNotice, (OWNER, false, false, true, bytes32(0), H1, period, guardian)
        );
        return KeygateApp(address(new ERC1967Proxy(address(appImpl), init)));
    }

    function _newKms(address appImplementation) internal returns (KeygateKms) {
        KeygateKms impl = new KeygateKms();
        bytes memory init = abi.encodeCall(KeygateKms.initialize, (OWNER, appImplementation));
        return KeygateKms(address(new ERC1967Proxy(address(impl), init)));
    }

    function _boot(address appId, bytes32 composeHash, bytes32 device, string memory tcb)
        internal
        pure
        returns (IAppAuth.AppBootInfo memory b)
    {
        b.appId = appId;
        b.composeHash = composeHash;
        b.instanceId = address(0x1234);
        b.deviceId = device;
        b.mrAggregated = MR1;
        b.mrSystem = keccak256("mr system");
        b.osImageHash = OS1;
        b.tcbStatus = tcb;
        b.advisoryIds = new string[](1);
        b.advisoryIds[0] = "INTEL-SA-00837";
    }

    function _expectDecision(
        bool gotAllowed,
        string memory gotReason,
        bool wantAllowed,
        string memory wantReason,
        string memory what
    ) internal pure {
        assertEq(gotAllowed, wantAllowed, what);
        assertEq(gotReason, wantReason, what);
    }

    function _checkApp(KeygateApp app, IAppAuth.AppBootInfo memory b, bool want, string memory reason) internal view {
        (bool ok, string memory why) = app.isAppAllowed(b);
        _expectDecision(ok, why, want, reason, reason);
    }

    function _implementationOf(address proxy) internal view returns (address) {
        return address(uint160(uint256(vm.load(proxy, IMPLEMENTATION_SLOT))));
    }
}
