import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

import { createRamfs } from '../../examples/ramfs.js';
import { Client } from '../../src/ninep/client.js';
import { ensureNamespace, namespaceDir, post, resolveAddress } from '../../src/ninep/namespace.js';
import { Server } from '../../src/ninep/server.js';
import { tempDir } from '../helpers.js';

const user = os.userInfo().username;

describe('name space', () => {
  it('is $NAMESPACE, else /tmp/ns.$USER.$DISPLAY canonicalised as plan9port does', () => {
    assert.equal(namespaceDir({ NAMESPACE: '/x/y' }), '/x/y');
    assert.equal(namespaceDir({ DISPLAY: ':0.0' }), `/tmp/ns.${user}.:0`);
    assert.equal(namespaceDir({ DISPLAY: 'host:10.0' }), `/tmp/ns.${user}.host:10`);
    assert.equal(namespaceDir({ DISPLAY: ':1.2' }), `/tmp/ns.${user}.:1.2`);
    assert.equal(namespaceDir({}), `/tmp/ns.${user}.:0`);
    assert.equal(namespaceDir({ DISPLAY: '/tmp/launch-x/org.xquartz:0' }), `/tmp/ns.${user}._tmp_launch-x_org.xquartz:0`);
  });

  it('is created mode 0700 and refused when others can reach it', () => {
    const tmp = tempDir();
    try {
      const ns = path.join(tmp.dir, 'ns');
      assert.equal(ensureNamespace({ NAMESPACE: ns }), ns);
      assert.equal(fs.statSync(ns).mode & 0o777, 0o700);
      fs.chmodSync(ns, 0o750);
      assert.throws(() => ensureNamespace({ NAMESPACE: ns }), /mode 750: others could reach its services; run chmod 700/);
    } finally {
      tmp.remove();
    }
  });

  it("is refused when it is another user's", { skip: process.getuid?.() !== 0 && 'needs root to chown a directory to another user' }, () => {
    const tmp = tempDir();
    try {
      const ns = path.join(tmp.dir, 'ns');
      fs.mkdirSync(ns, { mode: 0o700 });
      fs.chownSync(ns, 4242, 4242);
      assert.throws(() => ensureNamespace({ NAMESPACE: ns }), /belongs to uid 4242, not you/);
    } finally {
      tmp.remove();
    }
  });

  it('resolves dial strings', () => {
    assert.deepEqual(resolveAddress('agent', { NAMESPACE: '/ns' }), { path: '/ns/agent' });
    assert.deepEqual(resolveAddress('unix!/a/b'), { path: '/a/b' });
    assert.deepEqual(resolveAddress('tcp!127.0.0.1!564'), { host: '127.0.0.1', port: 564 });
    assert.throws(() => resolveAddress('tcp!h!99999'), /bad port/);
    assert.throws(() => resolveAddress('what!is!this!now'), /bad address/);
  });
});

describe('post', () => {
  it('posts a 0600 socket that clients dial by name, replaces a stale one, refuses a live one', async () => {
    const tmp = tempDir();
    const env = { NAMESPACE: path.join(tmp.dir, 'ns') };
    try {
      // A stale socket, as a killed server leaves it: a socket file no one listens on.
      // (A listener that closes removes its file, so move it aside while closing.)
      ensureNamespace(env);
      const stalePath = path.join(env.NAMESPACE, 'ramfs');
      const dead = net.createServer();
      await new Promise<void>((r) => dead.listen(stalePath, r));
      fs.renameSync(stalePath, `${stalePath}.aside`);
      await new Promise<void>((r) => dead.close(() => r()));
      fs.renameSync(`${stalePath}.aside`, stalePath);
      assert.ok(fs.lstatSync(stalePath).isSocket());

      const posted = await post('ramfs', new Server(createRamfs()), env);
      assert.equal(posted.path, stalePath);
      assert.equal(fs.statSync(posted.path).mode & 0o777, 0o600);
      const c = await Client.dial('ramfs', { env });
      assert.deepEqual(await c.readdir('/'), []);
      c.close();

      await assert.rejects(post('ramfs', new Server(createRamfs()), env), /ramfs is already being served at /);
      await posted.close();
      assert.equal(fs.existsSync(posted.path), false, 'close removes the socket');
      await assert.rejects(Client.dial('ramfs', { env }), /cannot dial ramfs .*nothing is serving there/);
    } finally {
      tmp.remove();
    }
  });
});
