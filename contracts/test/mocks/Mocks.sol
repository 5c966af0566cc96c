// SPDX-License-Identifier: Apache-2.0
// Mocks - next versions of the contracts (storage-preservation tests) and misbehaving app contracts.
pragma solidity ^0.8.24;

import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts-upgradeable/proxy/utils/UUPSUpgradeable.sol";
import {IAppAuth} from "../../src/IAppAuth.sol";
import {KeygateApp} from "../../src/KeygateApp.sol";
import {KeygateKms} from "../../src/KeygateKms.sol";

/// @notice A later app version that appends state after the reserved gap.
contract KeygateAppV2 is KeygateApp {
    uint256 private _extra;

    function version() external pure override returns (uint256) {
        return 2;
    }

    function setExtra(uint256 v) external onlyOwner {
        _extra = v;
    }

    function extra() external view returns (uint256) {
        return _extra;
    }
}

/// @notice A later KMS version.
contract KeygateKmsV2 is KeygateKms {
    function version() external pure override returns (uint256) {
        return 2;
    }
}

/// @notice An app contract whose authorization call always reverts.
contract RevertingApp is IAppAuth {
    function isAppAllowed(AppBootInfo calldata) external pure returns (bool, string memory) {
        revert("boom");
    }

    function supportsInterface(bytes4) external pure returns (bool) {
        return true;
    }
}

/// @notice An app contract that denies without saying why.
contract SilentDenyApp is IAppAuth {
    function isAppAllowed(AppBootInfo calldata) external pure returns (bool, string memory) {
        return (false, "");
    }

    function supportsInterface(bytes4 id) external pure returns (bool) {
        return id == type(IERC165).interfaceId;
    }
}

/// @notice A contract that is not UUPS-proxiable.
contract NotUpgradeable {
    function hello() external pure returns (uint256) {
        return 42;
    }
}

/// @notice A malicious KMS implementation: answers every authorization query with "allowed".
///         What a KMS owner would upgrade to in order to skip the apps' notice periods.
contract AllowAllKms is UUPSUpgradeable, IAppAuth {
    function isAppAllowed(AppBootInfo calldata) external pure returns (bool, string memory) {
        return (true, "");
    }

    function version() external pure returns (uint256) {
        return 666;
    }

    function supportsInterface(bytes4) external pure returns (bool) {
        return true;
    }

    function _authorizeUpgrade(address) internal override {}
}

/// @notice A dstack-style app contract: allows every boot and has no `upgradeNotice()` getter.
contract DstackStyleApp is IAppAuth {
    function isAppAllowed(AppBootInfo calldata) external pure returns (bool, string memory) {
        return (true, "");
    }

    function supportsInterface(bytes4 id) external pure returns (bool) {
        return id == type(IERC165).interfaceId || id == type(IAppAuth).interfaceId;
    }
}

/// @notice An app contract with a fallback that accepts any call and returns nothing.
contract FallbackApp is IAppAuth {
    function isAppAllowed(AppBootInfo calldata) external pure returns (bool, string memory) {
        return (true, "");
    }

    function supportsInterface(bytes4) external pure returns (bool) {
        return true;
    }

    fallback() external {}
}
