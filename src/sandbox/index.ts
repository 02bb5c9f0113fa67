export { loadPolicy, parsePolicy, policyPath, PolicyError, type Policy, type Access, type PathRule, type PortRange } from './policy.js';
export { DEFAULT_POLICY_YAML } from './default-policy.js';
export { resolveSession, expandTemplate, findOnPath, selectEnv, type SessionContext, type SessionExtra, type ExtraGrant, type Resolved, type GrantedPath } from './resolve.js';
export { probe, landlockAbiFor, INSTALL, type Probe, type ProviderStatus, type ProviderName, type LaunchContext } from './providers.js';
export { wrap, chooseProvider, SandboxRefused, type Wrapped } from './sandbox.js';
