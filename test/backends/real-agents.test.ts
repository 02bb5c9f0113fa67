/**
 * The real agent CLIs (optional: .ci/run installs them into .ci/agents), one at a time: each is a
 * heavy program, and this machine may have only two cores. Codex first, then Gemini.
 */
import './codex-suite.js';
import './gemini-suite.js';
