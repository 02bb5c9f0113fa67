/** The drivers a backend may name (`driver:` in backends.yaml). */
import { claudeDriver } from './claude.js';
import { codexDriver } from './codex.js';
import { geminiDriver } from './gemini.js';
import type { DriverFactory } from './driver.js';
import { kiroDriver } from './kiro.js';

export const DRIVERS: Readonly<Record<string, DriverFactory>> = {
  claude: claudeDriver,
  codex: codexDriver,
  gemini: geminiDriver,
  kiro: kiroDriver,
};
