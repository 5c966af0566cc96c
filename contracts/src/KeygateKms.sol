// SPDX-License-Identifier: Apache-2.0
// KeygateKms - a deployment's registry: KMS info, KMS/OS allow-lists, app registry and app factory (SPEC.md section 3).
pragma solidity ^0.8.24;

import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {Ownable2StepUpgradeable} from "@openzeppelin/contracts-upgradeable/access/Ownable2StepUpgradeable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts-upgradeable/proxy/utils/UUPSUpgradeable.sol";
import {ERC165Upgradeable} from "@openzeppelin/contracts-upgradeable/utils/introspection/ERC165Upgradeable.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {ERC1967Proxy} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";

import {IAppAuth} from "./IAppAuth.sol";
import {KeygateApp} from "./KeygateApp.sol";

/**
 * @title KeygateKms
 * @notice One per deployment. Publishes the KMS root public keys and bootstrap attestation,
 *         decides which KMS nodes may hold the root keys ({isKmsAllowed}) and which app boots
 *         may receive app keys ({isAppAllowed}, which delegates to the app's own contract).
 * @dev UUPS implementation behind an ERC1967 proxy; ABI-compatible with dstack's DstackKms.
 *      Upgrades and policy are the owner's; make the owner a multisig or timelock in production.
 */
contract KeygateKms is Initializable, Ownable2StepUpgradeable, UUPSUpgradeable, ERC165Upgradeable, IAppAuth {
    /**
     * @notice The KMS's public identity.
     * @param k256Pubkey Root secp256k1 public key (33-byte compressed).
     * @param caPubkey Root CA public key (P-256, DER SubjectPublicKeyInfo).
     * @param quote The bootstrap TDX quote of the KMS that generated the root keys.
     * @param eventlog The event log (JSON) of that quote.
     */
    struct KmsInfo {
        bytes k256Pubkey;
        bytes caPubkey;
        bytes quote;
        bytes eventlog;
    }

    // PolicyChanged ids: keccak256 of the policy name; names match dstack's where dstack has them.
    bytes32 private constant _POLICY_KMS_INFO = keccak256("kms-info");
    bytes32 private constant _POLICY_KMS_QUOTE = keccak256("kms-quote");
    bytes32 private constant _POLICY_KMS_EVENTLOG = keccak256("kms-eventlog");
    bytes32 private constant _POLICY_GATEWAY_APP_ID = keccak256("gateway-app-id");
    bytes32 private constant _POLICY_REGISTERED_APP = keccak256("registered-app");
    bytes32 private constant _POLICY_APP_IMPLEMENTATION = keccak256("app-implementation");
    bytes32 private constant _POLICY_KMS_MR = keccak256("kms-aggregated-mr");
    bytes32 private constant _POLICY_KMS_DEVICE = keccak256("kms-device");
    bytes32 private constant _POLICY_OS_IMAGE = keccak256("os-image");
    bytes32 private constant _POLICY_IMPLEMENTATION = keccak256("implementation-upgrade");

    bytes32 private constant _TCB_UP_TO_DATE = keccak256("UpToDate");

    KmsInfo private _kmsInfo;
    string private _gatewayAppId;
    mapping(address => bool) private _registeredApps;
    mapping(bytes32 => bool) private _kmsAllowedAggregatedMrs;
    mapping(bytes32 => bool) private _kmsAllowedDeviceIds;
    mapping(bytes32 => bool) private _allowedOsImages;
    address private _appImplementation;

    /// @dev Reserved slots so later versions can append state without shifting it.
    uint256[43] private __gap;

    /// @notice Emitted when `appId` was registered (unindexed, as in dstack, for log-indexer compatibility).
    event AppRegistered(address appId);
    /// @notice Emitted when the KMS info was replaced; carries the new root secp256k1 public key.
    event KmsInfoSet(bytes k256Pubkey);
    /// @notice Emitted when the bootstrap quote was replaced.
    event KmsQuoteSet(bytes32 quoteHash);
    /// @notice Emitted when the bootstrap event log was replaced.
    event KmsEventlogSet(bytes32 eventlogHash);
    /// @notice Emitted when a KMS aggregated MR was allowed.
    event KmsAggregatedMrAdded(bytes32 mrAggregated);
    /// @notice Emitted when a KMS aggregated MR was disallowed.
    event KmsAggregatedMrRemoved(bytes32 mrAggregated);
    /// @notice Emitted when a KMS device was allowed.
    event KmsDeviceAdded(bytes32 deviceId);
    /// @notice Emitted when a KMS device was disallowed.
    event KmsDeviceRemoved(bytes32 deviceId);
    /// @notice Emitted when an OS image was allowed.
    event OsImageHashAdded(bytes32 osImageHash);
    /// @notice Emitted when an OS image was disallowed.
    event OsImageHashRemoved(bytes32 osImageHash);
    /// @notice Emitted when the gateway app id changed.
    event GatewayAppIdSet(string gatewayAppId);
    /// @notice Emitted when the factory's app implementation changed.
    event AppImplementationSet(address implementation);
    /// @notice Emitted when the factory deployed and registered `appId` for `deployer`.
    event AppDeployedViaFactory(address indexed appId, address indexed deployer);
    /// @notice Audit event emitted with every policy change (same shape as dstack's).
    event PolicyChanged(address indexed actor, bytes32 indexed policy, bytes32 indexed value, bool enabled);

    /// @notice The zero address was given as app id.
    error KmsInvalidAppId();
    /// @notice `appId` is already registered.
    error KmsAppAlreadyRegistered(address appId);
    /// @notice `implementation` is not a contract.
    error KmsInvalidImplementation(address implementation);
    /// @notice The factory has no app implementation yet.
    error KmsAppImplementationNotSet();
    /// @notice The zero address was given as the app's owner.
    error KmsInvalidAppOwner();

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor() {
        _disableInitializers();
    }

    /**
     * @notice Initialize the proxy.
     * @dev Requirements: `initialOwner` non-zero; `appImplementation_` zero or a contract; not initialized yet.
     *      Emits {AppImplementationSet} and {PolicyChanged} when `appImplementation_` is set.
     */
    function initialize(address initialOwner, address appImplementation_) external initializer {
        __Ownable_init(initialOwner); // reverts OwnableInvalidOwner(0) for a zero owner
        __Ownable2Step_init();
        __UUPSUpgradeable_init();
        __ERC165_init();
        if (appImplementation_ != address(0)) _setAppImplementation(appImplementation_);
    }

    // ------------------------------------------------------------------ KMS info

    /**
     * @notice Publish the KMS's root public keys and bootstrap attestation.
     * @dev Requirements: caller is the owner. Emits {KmsInfoSet} and {PolicyChanged}.
     */
    function setKmsInfo(KmsInfo calldata info) external onlyOwner {
        _kmsInfo = info;
        emit KmsInfoSet(info.k256Pubkey);
        _emitPolicy(_POLICY_KMS_INFO, keccak256(info.k256Pubkey), true);
    }

    /**
     * @notice Replace the bootstrap quote.
     * @dev Requirements: caller is the owner. Emits {KmsQuoteSet} and {PolicyChanged}.
     */
    function setKmsQuote(bytes calldata quote) external onlyOwner {
        _kmsInfo.quote = quote;
        bytes32 h = keccak256(quote);
        emit KmsQuoteSet(h);
        _emitPolicy(_POLICY_KMS_QUOTE, h, true);
    }

    /**
     * @notice Replace the bootstrap event log.
     * @dev Requirements: caller is the owner. Emits {KmsEventlogSet} and {PolicyChanged}.
     */
    function setKmsEventlog(bytes calldata eventlog) external onlyOwner {
        _kmsInfo.eventlog = eventlog;
        bytes32 h = keccak256(eventlog);
        emit KmsEventlogSet(h);
        _emitPolicy(_POLICY_KMS_EVENTLOG, h, true);
    }

    /// @notice The published KMS info (same outputs as dstack's public `kmsInfo` getter).
    function kmsInfo()
        external
        view
        returns (bytes memory k256Pubkey, bytes memory caPubkey, bytes memory quote, bytes memory eventlog)
    {
        KmsInfo storage i = _kmsInfo;
        return (i.k256Pubkey, i.caPubkey, i.quote, i.eventlog);
    }

    /**
     * @notice Set the app id of the trusted gateway.
     * @dev Requirements: caller is the owner. Emits {GatewayAppIdSet} and {PolicyChanged}.
     */
    function setGatewayAppId(string calldata appId) external onlyOwner {
        _gatewayAppId = appId;
        emit GatewayAppIdSet(appId);
        _emitPolicy(_POLICY_GATEWAY_APP_ID, keccak256(bytes(appId)), true);
    }

    /// @notice The trusted gateway's app id.
    function gatewayAppId() external view returns (string memory) {
        return _gatewayAppId;
    }

    // ------------------------------------------------------------------ app registry and factory

    /**
     * @notice Register `appId` under this KMS.
     * @dev Permissionless, as in dstack: registration confers nothing by itself, because the OS
     *      image allow-list (owner) and the app's own contract still decide every boot, and an
     *      app's keys are derived from its own id.
     *      Requirements: `appId` non-zero and not yet registered. Emits {AppRegistered} and {PolicyChanged}.
     */
    function registerApp(address appId) external {
        if (appId == address(0)) revert KmsInvalidAppId();
        if (_registeredApps[appId]) revert KmsAppAlreadyRegistered(appId);
        _registerApp(appId);
    }

    /// @notice Whether `appId` is registered.
    function registeredApps(address appId) external view returns (bool) {
        return _registeredApps[appId];
    }

    /**
     * @notice Set the app implementation the factory puts behind new app proxies.
     * @dev Requirements: caller is the owner; `implementation` is a contract.
     *      Emits {AppImplementationSet} and {PolicyChanged}.
     */
    function setAppImplementation(address implementation) external onlyOwner {
        _setAppImplementation(implementation);
    }

    /// @notice The factory's app implementation.
    function appImplementation() external view returns (address) {
        return _appImplementation;
    }

    /**
     * @notice Deploy an app proxy and register it in one transaction (dstack's six-argument form).
     * @dev The app id is the new proxy's address. Anyone may call it. Requirements: implementation
     *      set; `initialOwner` non-zero. Emits the app's initialization events, {AppRegistered} and
     *      {PolicyChanged} (unless the address was registered beforehand), {AppDeployedViaFactory}.
     * @return appId The new app's id (proxy address).
     */
    function deployAndRegisterApp(
        address initialOwner,
        bool disableUpgrades,
        bool requireTcbUpToDate,
        bool allowAnyDevice,
        bytes32 initialDeviceId,
        bytes32 initialComposeHash
    ) public returns (address appId) {
        // The dstack-compatible initializer keeps the factory usable with a dstack app implementation.
        bytes memory init = abi.encodeWithSignature(
            "initialize(address,bool,bool,bool,bytes32,bytes32)",
            initialOwner,
            disableUpgrades,
            requireTcbUpToDate,
            allowAnyDevice,
            initialDeviceId,
            initialComposeHash
        );
        return _deployAndRegister(initialOwner, init);
    }

    /**
     * @notice dstack's older five-argument factory form (no TCB requirement).
     * @dev As the six-argument {deployAndRegisterApp} with `requireTcbUpToDate` false.
     */
    function deployAndRegisterApp(
        address initialOwner,
        bool disableUpgrades,
        bool allowAnyDevice,
        bytes32 initialDeviceId,
        bytes32 initialComposeHash
    ) external returns (address appId) {
        return deployAndRegisterApp(
            initialOwner, disableUpgrades, false, allowAnyDevice, initialDeviceId, initialComposeHash
        );
    }

    /**
     * @notice Deploy an app with an upgrade notice (notice period in seconds and guardian) and register it.
     * @dev Requirements: as {deployAndRegisterApp}; the implementation is a {KeygateApp};
     *      `noticePeriod` <= {KeygateApp-MAX_NOTICE_PERIOD}. Emits as {deployAndRegisterApp}.
     * @return appId The new app's id (proxy address).
     */
    function deployAndRegisterAppWithNotice(
        address initialOwner,
        bool disableUpgrades,
        bool requireTcbUpToDate,
        bool allowAnyDevice,
        bytes32 initialDeviceId,
        bytes32 initialComposeHash,
        uint64 noticePeriod,
        address guardian
    ) external returns (address appId) {
        bytes memory init = abi.encodeCall(
            KeygateApp.initializeWithNotice,
            (
                initialOwner,
                disableUpgrades,
                requireTcbUpToDate,
                allowAnyDevice,
                initialDeviceId,
                initialComposeHash,
                noticePeriod,
                guardian
            )
        );
        return _deployAndRegister(initialOwner, init);
    }

    function _deployAndRegister(address initialOwner, bytes memory init) private returns (address appId) {
        address implementation = _appImplementation;
        if (implementation == address(0)) revert KmsAppImplementationNotSet();
        if (initialOwner == address(0)) revert KmsInvalidAppOwner();
        // The proxy constructor runs the implementation's initializer; the implementation is the
        // owner's choice, so this external call is trusted as much as the owner is.
        appId = address(new ERC1967Proxy(implementation, init));
        // Anyone may register any address, including the factory's next CREATE address. Such a
        // pre-registration must not block the factory, so an existing entry is simply kept.
        if (!_registeredApps[appId]) _registerApp(appId);
        emit AppDeployedViaFactory(appId, msg.sender);
    }

    // ------------------------------------------------------------------ KMS and OS allow-lists

    /// @notice Allow KMS nodes with `mrAggregated`. Requirements: owner. Emits {KmsAggregatedMrAdded}, {PolicyChanged}.
    function addKmsAggregatedMr(bytes32 mrAggregated) external onlyOwner {
        _kmsAllowedAggregatedMrs[mrAggregated] = true;
        emit KmsAggregatedMrAdded(mrAggregated);
        _emitPolicy(_POLICY_KMS_MR, mrAggregated, true);
    }

    /// @notice Disallow `mrAggregated`. Requirements: owner. Emits {KmsAggregatedMrRemoved}, {PolicyChanged}.
    function removeKmsAggregatedMr(bytes32 mrAggregated) external onlyOwner {
        _kmsAllowedAggregatedMrs[mrAggregated] = false;
        emit KmsAggregatedMrRemoved(mrAggregated);
        _emitPolicy(_POLICY_KMS_MR, mrAggregated, false);
    }

    /// @notice Whether KMS nodes with `mrAggregated` are allowed.
    function kmsAllowedAggregatedMrs(bytes32 mrAggregated) external view returns (bool) {
        return _kmsAllowedAggregatedMrs[mrAggregated];
    }

    /// @notice Allow KMS nodes on `deviceId`. Requirements: owner. Emits {KmsDeviceAdded}, {PolicyChanged}.
    function addKmsDevice(bytes32 deviceId) external onlyOwner {
        _kmsAllowedDeviceIds[deviceId] = true;
        emit KmsDeviceAdded(deviceId);
        _emitPolicy(_POLICY_KMS_DEVICE, deviceId, true);
    }

    /// @notice Disallow KMS nodes on `deviceId`. Requirements: owner. Emits {KmsDeviceRemoved}, {PolicyChanged}.
    function removeKmsDevice(bytes32 deviceId) external onlyOwner {
        _kmsAllowedDeviceIds[deviceId] = false;
        emit KmsDeviceRemoved(deviceId);
        _emitPolicy(_POLICY_KMS_DEVICE, deviceId, false);
    }

    /// @notice Whether KMS nodes on `deviceId` are allowed.
    function kmsAllowedDeviceIds(bytes32 deviceId) external view returns (bool) {
        return _kmsAllowedDeviceIds[deviceId];
    }

    /// @notice Allow OS image `osImageHash` (for KMS nodes and apps). Requirements: owner. Emits {OsImageHashAdded}, {PolicyChanged}.
    function addOsImageHash(bytes32 osImageHash) external onlyOwner {
        _allowedOsImages[osImageHash] = true;
        emit OsImageHashAdded(osImageHash);
        _emitPolicy(_POLICY_OS_IMAGE, osImageHash, true);
    }

    /// @notice Disallow OS image `osImageHash`. Requirements: owner. Emits {OsImageHashRemoved}, {PolicyChanged}.
    function removeOsImageHash(bytes32 osImageHash) external onlyOwner {
        _allowedOsImages[osImageHash] = false;
        emit OsImageHashRemoved(osImageHash);
        _emitPolicy(_POLICY_OS_IMAGE, osImageHash, false);
    }

    /// @notice Whether OS image `osImageHash` is allowed.
    function allowedOsImages(bytes32 osImageHash) external view returns (bool) {
        return _allowedOsImages[osImageHash];
    }

    // ------------------------------------------------------------------ authorization

    /**
     * @notice Whether a KMS node booted as `bootInfo` may hold the root keys.
     * @dev Checks, in order: TCB status "UpToDate", OS image, aggregated MR, device.
     *      Reasons: "tcb status not up to date", "os image not allowed", "aggregated mr not allowed",
     *      "kms device not allowed".
     */
    function isKmsAllowed(AppBootInfo calldata bootInfo) external view returns (bool isAllowed, string memory reason) {
        if (keccak256(bytes(bootInfo.tcbStatus)) != _TCB_UP_TO_DATE) return (false, "tcb status not up to date");
        if (!_allowedOsImages[bootInfo.osImageHash]) return (false, "os image not allowed");
        if (!_kmsAllowedAggregatedMrs[bootInfo.mrAggregated]) return (false, "aggregated mr not allowed");
        if (!_kmsAllowedDeviceIds[bootInfo.deviceId]) return (false, "kms device not allowed");
        return (true, "");
    }

    /**
     * @inheritdoc IAppAuth
     * @dev Checks, in order: app registered, OS image allowed, app has code, then the app's own
     *      {IAppAuth-isAppAllowed}. Fails closed: a reverting app answers "app contract call failed",
     *      and a denial without a reason becomes "denied by app contract".
     *      Reasons: "app not registered", "os image not allowed", "app has no code", plus the app's.
     */
    function isAppAllowed(AppBootInfo calldata bootInfo)
        external
        view
        override
        returns (bool isAllowed, string memory reason)
    {
        address appId = bootInfo.appId;
        if (!_registeredApps[appId]) return (false, "app not registered");
        if (!_allowedOsImages[bootInfo.osImageHash]) return (false, "os image not allowed");
        if (appId.code.length == 0) return (false, "app has no code");
        try IAppAuth(appId).isAppAllowed(bootInfo) returns (bool allowed, string memory why) {
            if (!allowed && bytes(why).length == 0) return (false, "denied by app contract");
            return (allowed, why);
        } catch {
            return (false, "app contract call failed");
        }
    }

    /// @notice Implementation version of this contract.
    function version() external pure virtual returns (uint256) {
        return 1;
    }

    /// @inheritdoc IERC165
    function supportsInterface(bytes4 interfaceId)
        public
        view
        virtual
        override(ERC165Upgradeable, IERC165)
        returns (bool)
    {
        return interfaceId == type(IAppAuth).interfaceId || super.supportsInterface(interfaceId);
    }

    /// @dev UUPS hook. Requirements: caller is the owner. Emits {PolicyChanged}.
    function _authorizeUpgrade(address newImplementation) internal override onlyOwner {
        _emitPolicy(_POLICY_IMPLEMENTATION, _addressToBytes32(newImplementation), true);
    }

    // ------------------------------------------------------------------ internals

    function _registerApp(address appId) private {
        _registeredApps[appId] = true;
        emit AppRegistered(appId);
        _emitPolicy(_POLICY_REGISTERED_APP, _addressToBytes32(appId), true);
    }

    function _setAppImplementation(address implementation) private {
        if (implementation.code.length == 0) revert KmsInvalidImplementation(implementation);
        _appImplementation = implementation;
        emit AppImplementationSet(implementation);
        _emitPolicy(_POLICY_APP_IMPLEMENTATION, _addressToBytes32(implementation), true);
    }

    function _emitPolicy(bytes32 policy, bytes32 value, bool enabled) private {
        emit PolicyChanged(msg.sender, policy, value, enabled);
    }

    function _addressToBytes32(address a) private pure returns (bytes32) {
        return bytes32(uint256(uint160(a)));
    }
}
