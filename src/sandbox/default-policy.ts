/**
 * The policy written to ~/.config/anvillm/sandbox.yaml on first use. Measured with the real
 * Claude Code: /dev/null must be writable (git and the Bash tool), /dev/urandom readable (crash at
 * start otherwise), /proc/self/maps and /proc/self/stat readable (abort at start; "Failed to get
 * memory usage"), /etc/bash.bashrc readable (else every tool output starts with an error), and
 * the DNS/TLS files for real APIs. /etc/passwd, /proc/meminfo, /proc/self/cgroup and /proc/version
 * are not needed, so they are not granted. ~/.claude.json is not granted: sessions keep Claude
 * Code's state in their own file (backends/claude.ts, sessionStateFile). Unlike the original, ~/.config/anvillm is not granted:
 * an agent that can write it can rewrite its own sandbox policy and backends for the next session
 * (sessions keep it read-only even inside a writable grant).
 */
export const DEFAULT_POLICY_YAML = `# AnviLLM sandbox policy.
#
# Agents run with --dangerously-skip-permissions / --trust-all-tools: this sandbox is the ONLY
# thing between them and your files. Edits apply to sessions started afterwards.
# See what a session would get:  anvillm sandbox check --cwd DIR
#
# Paths may use {CWD} (the session's directory), {HOME}, {TMPDIR}, {XDG_CONFIG_HOME},
# {XDG_DATA_HOME}, {XDG_CACHE_HOME}, {XDG_STATE_HOME} and {ANY_ENV_VAR}; an undefined variable is
# an error. Paths that do not exist are skipped. Every session also gets its own directory and
# its state directory read-write, and the agent program's whole installed package read+execute.
# AnviLLM's own configuration ({XDG_CONFIG_HOME}/anvillm) stays read-only (see unprotect below).

general:
  # false (strict, recommended): a session is refused when no provider can enforce this policy.
  # true: it starts anyway with a warning in its err file -- possibly with NO sandbox at all.
  best_effort: false
  # landrun's --log-level: error | info | debug
  log_level: error
  # auto (bubblewrap when installed, else landrun) | bwrap | landrun
  provider: auto

filesystem:
  # read-write
  rw:
    - "{CWD}"
    - "{TMPDIR}"
    - "{HOME}/.claude"
    - "{HOME}/.kiro"
    - "{HOME}/.gemini"
    - /dev/null
  # read + execute
  rox:
    - /usr
    - /lib
    - /lib64
    - /bin
    - /sbin
  # read-only
  ro:
    - /dev/urandom
    - /proc/self/maps
    - /proc/self/stat
    - /etc/bash.bashrc
    - /etc/resolv.conf
    - /etc/hosts
    - /etc/nsswitch.conf
    - /etc/ssl
    - /etc/ca-certificates
    - /etc/localtime
  # read-write + execute (Codex runs programs it keeps in ~/.codex)
  rwx:
    - "{HOME}/.codex"
  # Inside every writable grant, what programs outside the sandbox run or obey stays read-only
  # and cannot be created: git hooks and config, editor and agent project settings, shell
  # start-up files, the agents' own settings (anvillm sandbox check lists them). A path listed
  # here is released, with everything under it: an agent can then plant commands that run
  # OUTSIDE the sandbox the next time you use git, your shell, your editor or that agent.
  unprotect: []

network:
  # false: no TCP at all.
  enabled: true
  # true: any host and port. false: only the ports below (landrun, kernel 6.7+; bubblewrap
  # cannot restrict ports and refuses such a policy).
  unrestricted: true
  connect_tcp: []   # e.g. ["443", "3000-3010"]
  bind_tcp: []

# Environment variables the agent sees (each backend adds the ones it needs, e.g. ANTHROPIC_*).
env:
  - HOME
  - USER
  - PATH
  - LANG
  - TERM

advanced:
  # landrun --ldd: also allow the shared libraries the agent links.
  ldd: false
  # landrun --add-exec: also allow executing the agent program itself.
  add_exec: false
`;
