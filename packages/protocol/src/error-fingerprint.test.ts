import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  fingerprintBasis,
  fingerprintError,
  fnv1a64,
  parameteriseMessage,
  parseStack,
} from './error-fingerprint.js';

const nodeStack = (
  root: string,
  line: number,
) => `TypeError: Cannot read properties of undefined (reading 'id')
    at normaliseTask (${root}/src/tasks/normalise.js:${line}:17)
    at async TaskRunner.run (${root}/src/tasks/runner.js:${line + 40}:9)
    at async Promise.all (index 0)
    at async Agent.loop [as tick] (file://${root}/src/agent.mjs:${line * 2}:5)
    at processTicksAndRejections (node:internal/process/task_queues:95:5)`;

const pythonTraceback = (root: string, line: number) => `Traceback (most recent call last):
  File "${root}/agent/main.py", line ${line}, in <module>
    main()
  File "${root}/agent/main.py", line ${line + 3}, in main
    result = fetch(url)
  File "${root}/agent/fetch.py", line ${line + 9}, in fetch
    r = requests.get(url, timeout=5)
  File "/usr/lib/python3/dist-packages/requests/api.py", line 73, in get
    return request("get", url, params=params, **kwargs)
  File "/usr/lib/python3.11/socket.py", line 962, in getaddrinfo
    for res in _socket.getaddrinfo(host, port, family, type, proto, flags):
requests.exceptions.ConnectionError: HTTPSConnectionPool(host='api.example.com', port=443)`;

describe('fnv1a64', () => {
  it('matches the published FNV-1a 64 test vectors', () => {
    expect(fnv1a64('')).toBe('cbf29ce484222325');
    expect(fnv1a64('a')).toBe('af63dc4c8601ec8c');
    expect(fnv1a64('foobar')).toBe('85944171f73967e8');
  });

  it('hashes UTF-8 bytes, so a non-ASCII message hashes as in any other language', () => {
    expect(fnv1a64('é')).toBe(fnv1a64('\u00e9'));
    expect(fnv1a64('é')).not.toBe(fnv1a64('e'));
    expect(fnv1a64('日本')).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('parseStack', () => {
  it('reads V8 frames nearest the throw first, without line or column', () => {
    const frames = parseStack(nodeStack('/srv/app', 10));
    expect(frames).toEqual([
      { file: 'tasks/normalise.js', fn: 'normaliseTask', inApp: true },
      { file: 'tasks/runner.js', fn: 'TaskRunner.run', inApp: true },
      { file: 'index 0', fn: 'Promise.all', inApp: false },
      { file: 'src/agent.mjs', fn: 'Agent.loop', inApp: true },
      { file: 'process/task_queues', fn: 'processTicksAndRejections', inApp: false },
    ]);
  });

  it('reads V8 frames with no function, constructors, anonymous and eval frames', () => {
    const frames = parseStack(`Error: boom
    at /home/ci/build/lib/index.js:3:11
    at new Client (/home/ci/build/node_modules/pg/lib/client.js:48:9)
    at Object.<anonymous> (/home/ci/build/bin/cli.js:5:1)
    at eval (eval at compile (/home/ci/build/lib/tpl.js:10:3), <anonymous>:1:7)
    at <anonymous>
    at Array.map (<anonymous>)
    at C:\\work\\agent\\src\\win.js:7:2`);
    expect(frames).toEqual([
      { file: 'lib/index.js', fn: '', inApp: true },
      { file: 'pg/lib/client.js'.split('/').slice(-2).join('/'), fn: 'Client', inApp: false },
      { file: 'bin/cli.js', fn: 'Object.<anonymous>', inApp: true },
      { file: '<anonymous>', fn: 'eval', inApp: false },
      { file: '<anonymous>', fn: '', inApp: false },
      { file: '<anonymous>', fn: 'Array.map', inApp: false },
      { file: 'src/win.js', fn: '', inApp: true },
    ]);
  });

  it('reads Firefox and Safari frames', () => {
    expect(
      parseStack(`handleClick@https://app.example.com/static/js/main.3f2a9b1c.js:2:1034
@https://app.example.com/static/js/main.3f2a9b1c.js?v=2:1:88
dispatch@[native code]`),
    ).toEqual([
      { file: 'js/main.js', fn: 'handleClick', inApp: true },
      { file: 'js/main.js', fn: '', inApp: true },
      { file: '[native code]', fn: 'dispatch', inApp: false },
    ]);
  });

  it('reads a Python traceback nearest the raise first, skipping the standard library and packages', () => {
    expect(parseStack(pythonTraceback('/opt/agents', 12))).toEqual([
      {
        file: 'lib/python3.11/socket.py'.split('/').slice(-2).join('/'),
        fn: 'getaddrinfo',
        inApp: false,
      },
      { file: 'requests/api.py', fn: 'get', inApp: false },
      { file: 'agent/fetch.py', fn: 'fetch', inApp: true },
      { file: 'agent/main.py', fn: 'main', inApp: true },
      { file: 'agent/main.py', fn: '<module>', inApp: true },
    ]);
  });

  it('reads only the last traceback of a chained Python exception (the one raised)', () => {
    const frames = parseStack(`Traceback (most recent call last):
  File "/app/db.py", line 4, in connect
    sock.connect(addr)
ConnectionRefusedError: [Errno 111] Connection refused

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/app/worker.py", line 20, in run
    db.connect()
  File "<frozen importlib._bootstrap>", line 1, in _find_and_load
RuntimeError: database unavailable`);
    expect(frames).toEqual([
      { file: '<frozen importlib._bootstrap>', fn: '_find_and_load', inApp: false },
      { file: 'app/worker.py', fn: 'run', inApp: true },
    ]);
  });

  it('finds no frames in a stack that is not one', () => {
    expect(parseStack('just some text\nwith lines')).toEqual([]);
    expect(parseStack('')).toEqual([]);
  });
});

describe('parameteriseMessage', () => {
  const cases: [string, string][] = [
    ['connect ECONNREFUSED 127.0.0.1:5432', 'connect ECONNREFUSED <ip>:<n>'],
    ['connect ECONNREFUSED ::1:6379', 'connect ECONNREFUSED <ip>'],
    ['Rust panic in tokio::runtime::task', 'Rust panic in tokio::runtime::task'],
    ['connect ECONNREFUSED [fe80::1ff:fe23:4567:890a]:80', 'connect ECONNREFUSED [<ip>]:<n>'],
    ['getaddrinfo ENOTFOUND api.example.com', 'getaddrinfo ENOTFOUND api.example.com'],
    ['Timeout after 30000ms waiting for task t-17', 'Timeout after <n>ms waiting for task t-<n>'],
    ['Task 3f1c2b9e-8d7a-4c3b-9a1e-2f4d5c6b7a8e not found', 'Task <uuid> not found'],
    ['Document 64b7f0c2e4b0a1d2c3e4f5a6 missing', 'Document <hex> missing'],
    ['segfault at 0x7ffd5e8a1c30', 'segfault at <hex>'],
    [
      "ENOENT: no such file or directory, open '/var/lib/warden/agents/x.json'",
      'ENOENT: no such file or directory, open <str>',
    ],
    ['cannot open /tmp/agent-4411/state.db: locked', 'cannot open <path>: locked'],
    ['config not found at ./conf/agent.yaml', 'config not found at <path>'],
    ['Unexpected token } in JSON at position 1043', 'Unexpected token } in JSON at position <n>'],
    ['Request failed with status code 503', 'Request failed with status code <n>'],
    ['GET https://api.example.com/v1/users/981?x=1 returned 429', 'GET <url> returned <n>'],
    ['mail to alice.smith+ops@example.co.uk bounced', 'mail to <email> bounced'],
    ['rate limit resets at 2024-05-01T12:30:00.123Z', 'rate limit resets at <ts>'],
    ['job ran 12:03:44 until 12:09:10', 'job ran <ts> until <ts>'],
    ['token sk_live_4eC39HqLyjWDarjtT1zdp7dc rejected', 'token sk_live_<id> rejected'],
    ['KeyError: "user_id"', 'KeyError: <str>'],
    ["can't connect to 'db-7'", "can't connect to <str>"],
    ['price 12.50 exceeds 10,000.75', 'price <n> exceeds <n>'],
    ['  many   spaces\n\tand lines  ', 'many spaces and lines'],
  ];
  for (const [input, output] of cases) {
    it(`turns ${JSON.stringify(input)} into ${JSON.stringify(output)}`, () => {
      expect(parameteriseMessage(input)).toBe(output);
    });
  }

  it('cuts a huge message to 512 characters', () => {
    expect(parameteriseMessage('x '.repeat(50_000)).length).toBeLessThanOrEqual(512);
  });
});

describe('fingerprintError', () => {
  it('takes the sender’s own fingerprint, trimmed, over anything else', () => {
    expect(fingerprintError({ errorType: 'E', message: 'm', fingerprint: ' db-timeout ' })).toBe(
      'db-timeout',
    );
    expect(fingerprintError({ errorType: 'E', message: 'm', fingerprint: '  ' })).toMatch(
      /^[0-9a-f]{16}$/,
    );
  });

  it('is a 16-digit hex id', () => {
    expect(fingerprintError({ errorType: 'Error', message: 'x' })).toMatch(/^[0-9a-f]{16}$/);
  });

  it('groups one Node error thrown from another install path and other lines', () => {
    const a = { errorType: 'TypeError', message: "reading 'id'", stack: nodeStack('/srv/app', 10) };
    const b = {
      errorType: 'TypeError',
      message: "reading 'name'",
      stack: nodeStack('/home/u/ci/app', 99),
    };
    expect(fingerprintError(a)).toBe(fingerprintError(b));
    expect(fingerprintBasis(a)).toBe(
      'v1\nframes\nTypeError\ntasks/normalise.js:normaliseTask\ntasks/runner.js:TaskRunner.run\nsrc/agent.mjs:Agent.loop',
    );
  });

  it('groups one Python error from two machines and tells it apart from another place', () => {
    const t = 'requests.exceptions.ConnectionError';
    const a = fingerprintError({ errorType: t, message: 'x', stack: pythonTraceback('/opt/a', 1) });
    const b = fingerprintError({
      errorType: t,
      message: 'y',
      stack: pythonTraceback('/home/b', 50),
    });
    expect(a).toBe(b);
    const other = pythonTraceback('/opt/a', 1).replace('agent/fetch.py', 'agent/upload.py');
    expect(fingerprintError({ errorType: t, message: 'x', stack: other })).not.toBe(a);
  });

  it('uses only the top five in-app frames, so a deeper caller does not split a group', () => {
    const frames = (callers: string[]) =>
      [
        'Error: deep',
        ...['f1', 'f2', 'f3', 'f4', 'f5', ...callers].map(
          (f) => `    at ${f} (/app/src/${f}.js:1:1)`,
        ),
      ].join('\n');
    const a = fingerprintError({
      errorType: 'Error',
      message: 'deep',
      stack: frames(['fromCron']),
    });
    const b = fingerprintError({
      errorType: 'Error',
      message: 'deep',
      stack: frames(['fromHttp', 'x']),
    });
    expect(a).toBe(b);
  });

  it('falls back to the message when no frame is in-app', () => {
    const stack = `Error: connect ECONNREFUSED 127.0.0.1:5432
    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16)`;
    const a = { errorType: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:5432', stack };
    const b = { errorType: 'Error', message: 'connect ECONNREFUSED 10.0.0.9:5433', stack };
    expect(fingerprintError(a)).toBe(fingerprintError(b));
    expect(fingerprintBasis(a)).toBe('v1\nmessage\nError\nconnect ECONNREFUSED <ip>:<n>');
  });

  it('same error with different numbers, ids and hex → same fingerprint (property)', () => {
    const template = fc.constantFrom(
      'Timeout after {} ms on task {}',
      'HTTP {} from upstream after {} retries',
      'worker {} crashed with code {}',
      'object {} missing in bucket {}',
    );
    // each slot holds one kind of value (a number, a UUID, hex, an address), varied freely
    const kinds = [
      fc.nat().map(String),
      fc.uuid(),
      fc.integer({ min: 0x10000000, max: 0x7fffffff }).map((n) => `0x${n.toString(16)}`),
      fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.')),
    ];
    const pair = fc.oneof(...kinds.map((k) => fc.tuple(k, k)));
    fc.assert(
      fc.property(template, pair, pair, (t, [a, c], [b, d]) => {
        const fill = (x: string, y: string) => t.replace('{}', x).replace('{}', y);
        return (
          fingerprintError({ errorType: 'Error', message: fill(a, b) }) ===
          fingerprintError({ errorType: 'Error', message: fill(c, d) })
        );
      }),
    );
  });

  it('different error types → different fingerprints (property)', () => {
    const type = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_.]{0,30}$/);
    fc.assert(
      fc.property(
        type,
        type,
        fc.string({ maxLength: 200 }),
        fc.boolean(),
        (t1, t2, message, withStack) => {
          fc.pre(t1 !== t2);
          const stack = withStack ? nodeStack('/app', 3) : undefined;
          return (
            fingerprintError({ errorType: t1, message, stack }) !==
            fingerprintError({ errorType: t2, message, stack })
          );
        },
      ),
    );
  });

  it('never throws and always answers 16 hex digits for any input (property)', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.string({ maxLength: 2000 }),
        fc.option(fc.string({ maxLength: 4000 })),
        (t, m, s) => {
          return /^[0-9a-f]{16}$/.test(
            fingerprintError({ errorType: t, message: m, stack: s ?? undefined }),
          );
        },
      ),
    );
  });
});
