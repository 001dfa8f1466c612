// Starting example servers and a headless Chromium that reaches nothing but loopback.
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const binDir = process.env.EXAMPLES_BIN_DIR || path.resolve(here, '../../../target/debug');
export const frameworks = (process.env.FRAMEWORKS || 'axum,actix,warp,poem,hyper,rocket,salvo').split(',');

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** Starts an example binary; resolves once it is listening. */
export async function startServer(example, framework, port) {
  const child = spawn(path.join(binDir, example), ['--framework', framework, '--port', String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${example} (${framework}) did not start`)), 20000);
    child.stdout.on('data', (chunk) => {
      if (chunk.toString().includes('serving on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`${example} exited with ${code}`)));
  });
  // Rocket binds its own socket after the line is printed: wait until it answers.
  for (let attempt = 0; ; attempt++) {
    try {
      await fetch(`http://127.0.0.1:${port}/`);
      break;
    } catch (error) {
      if (attempt >= 200) throw new Error(`${example} (${framework}) never answered: ${error}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return child;
}

export async function kill(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.*, EXCLUDE ::1',
    ],
  });
}
