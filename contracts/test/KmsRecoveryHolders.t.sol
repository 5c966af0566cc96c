// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {OwnableUpgradeable} from "@openzeppelin/contracts-upgradeable/access/OwnableUpgradeable.sol";

import {Fixture} from "./Fixture.sol";
import {KeygateApp} from "../src/KeygateApp.sol";
import {KeygateKms} from "../src/KeygateKms.sol";

/// The recovery holders of sealed root-key files (docs/design.md, "Sealed root keys"): set at
/// once without a notice, proposed and vetoable with one, checked, in their own storage slot.
contract KmsRecoveryHoldersTest is Fixture {
    KeygateKms internal kms;
    bytes32 internal constant A = keccak256("holder a");
    bytes32 internal constant B = keccak256("holder b");
    bytes32 internal constant C = keccak256("holder c");

    function setUp() public {
        vm.warp(T0);
        appImpl = new KeygateApp();
        kms = _newKms(address(appImpl));
    }

    function _list3() internal pure returns (bytes32[] memory l) {
        l = new bytes32[](3);
        (l[0], l[1], l[2]) = (A, B, C);
    }

    function _assertHolders(bytes32[] memory want, uint8 t) internal view {
        (bytes32[] memory got, uint8 th) = kms.recoveryHolders();
        assertEq(th, t, "threshold");
        assertEq(got.length, want.length, "holder count");
        for (uint256 i = 0; i < want.length; i++) {
            assertEq(got[i], want[i], "holder");
        }
    }

    function test_noneByDefault() public view {
        _assertHolders(new bytes32[](0), 0);
    }

    function test_setAtOnceWithoutNotice() public {
        vm.expectEmit(address(kms));
        emit KeygateKms.RecoveryHoldersSet(_list3(), 2);
        vm.prank(OWNER);
        kms.setRecoveryHolders(_list3(), 2);
        _assertHolders(_list3(), 2);
        // cleared again: no recovery
        vm.prank(OWNER);
        kms.setRecoveryHolders(new bytes32[](0), 0);
        _assertHolders(new bytes32[](0), 0);
    }

    function test_onlyOwner() public {
        vm.expectRevert(abi.encodeWithSelector(OwnableUpgradeable.OwnableUnauthorizedAccount.selector, address(this)));
        kms.setRecoveryHolders(_list3(), 2);
        vm.expectRevert(abi.encodeWithSelector(OwnableUpgradeable.OwnableUnauthorizedAccount.selector, address(this)));
        kms.proposeRecoveryHolders(_list3(), 2);
    }

    function test_thresholdAndKeysChecked() public {
        vm.startPrank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsInvalidRecoveryThreshold.selector, 3, 0));
        kms.setRecoveryHolders(_list3(), 0);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsInvalidRecoveryThreshold.selector, 3, 4));
        kms.setRecoveryHolders(_list3(), 4);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsInvalidRecoveryThreshold.selector, 0, 1));
        kms.setRecoveryHolders(new bytes32[](0), 1);
        bytes32[] memory many = new bytes32[](17);
        for (uint256 i = 0; i < 17; i++) {
            many[i] = bytes32(i + 1);
        }
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsInvalidRecoveryThreshold.selector, 17, 2));
        kms.setRecoveryHolders(many, 2);
        bytes32[] memory dup = _list3();
        dup[2] = A;
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsInvalidRecoveryHolder.selector, A));
        kms.setRecoveryHolders(dup, 2);
        dup[2] = bytes32(0);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsInvalidRecoveryHolder.selector, bytes32(0)));
        kms.setRecoveryHolders(dup, 2);
        vm.stopPrank();
        _assertHolders(new bytes32[](0), 0); // nothing changed
    }

    function test_withNoticeProposeWaitsAndGuardianVetoes() public {
        vm.startPrank(OWNER);
        kms.setRecoveryHolders(_list3(), 2);
        kms.setGovernanceNotice(NOTICE, GUARDIAN);
        bytes32[] memory two = new bytes32[](2);
        (two[0], two[1]) = (A, B);
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsNoticePeriodActive.selector, NOTICE));
        kms.setRecoveryHolders(two, 1);
        vm.expectEmit(address(kms));
        emit KeygateKms.RecoveryHoldersProposed(two, 1, T0 + NOTICE);
        kms.proposeRecoveryHolders(two, 1);
        vm.stopPrank();
        // pending: the old holders stay in force until the notice has passed
        _assertHolders(_list3(), 2);
        (bytes32[] memory p, uint8 pt, uint64 at) = kms.pendingRecoveryHolders();
        assertEq(p.length, 2, "pending count");
        assertEq(pt, 1, "pending threshold");
        assertEq(at, T0 + NOTICE, "activation");
        vm.warp(T0 + NOTICE - 1);
        _assertHolders(_list3(), 2);
        // the guardian vetoes in time
        vm.expectRevert(abi.encodeWithSelector(KeygateKms.KmsUnauthorizedGuardian.selector, OWNER));
        vm.prank(OWNER);
        kms.vetoRecoveryHolders();
        vm.prank(GUARDIAN);
        kms.vetoRecoveryHolders();
        vm.warp(T0 + NOTICE + 1);
        _assertHolders(_list3(), 2);
        vm.prank(GUARDIAN);
        vm.expectRevert(KeygateKms.KmsNoPendingRecoveryHolders.selector);
        kms.vetoRecoveryHolders();
        // proposed again and not vetoed: in force once the notice has passed, too late to veto
        vm.prank(OWNER);
        kms.proposeRecoveryHolders(two, 1);
        vm.warp(T0 + 2 * NOTICE + 1);
        _assertHolders(two, 1);
        (p,,) = kms.pendingRecoveryHolders();
        assertEq(p.length, 0, "nothing pending");
        vm.prank(GUARDIAN);
        vm.expectRevert(KeygateKms.KmsNoPendingRecoveryHolders.selector);
        kms.vetoRecoveryHolders();
        // a later proposal settles the matured one first, then waits its own notice
        vm.prank(OWNER);
        kms.proposeRecoveryHolders(_list3(), 3);
        _assertHolders(two, 1);
    }

    function test_proposeNeedsNotice() public {
        vm.prank(OWNER);
        vm.expectRevert(KeygateKms.KmsNoNoticePeriod.selector);
        kms.proposeRecoveryHolders(_list3(), 2);
    }

    /// The ERC-7201 slot constant is the formula's, and the holders live there (not in the
    /// sequential layout another version appends to).
    function test_namespacedSlot() public {
        bytes32 slot = keccak256(abi.encode(uint256(keccak256("keygate.kms.recovery")) - 1)) & ~bytes32(uint256(0xff));
        vm.prank(OWNER);
        kms.setRecoveryHolders(_list3(), 2);
        assertEq(uint256(vm.load(address(kms), slot)), 3, "holders.length in the slot");
        assertEq(uint256(vm.load(address(kms), bytes32(uint256(slot) + 1))), 2, "threshold in slot + 1");
        assertEq(vm.load(address(kms), keccak256(abi.encode(slot))), A, "holders[0]");
    }

    function testFuzz_anyValidSetRoundTrips(uint8 n, uint8 t, uint256 seed) public {
        n = uint8(bound(n, 1, 16));
        t = uint8(bound(t, 1, n));
        bytes32[] memory l = new bytes32[](n);
        for (uint256 i = 0; i < n; i++) {
            l[i] = keccak256(abi.encode(seed, i));
        }
        vm.prank(OWNER);
        kms.setRecoveryHolders(l, t);
        _assertHolders(l, t);
    }
}
