import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/** One message the sink accepted. */
export interface SinkMail {
  from: string;
  to: string[];
  /** Header name (lower case) → value, unfolded. */
  headers: Record<string, string>;
  subject: string;
  /** The body, quoted-printable decoded. */
  text: string;
  raw: string;
}

/** An SMTP reply the sink gives instead of accepting a message. */
export interface SmtpRejection {
  code: number;
  message: string;
}

/**
 * A real SMTP server (`smtp-server`) on loopback that keeps every message it accepts.
 * `rejectNext` makes it refuse the next messages at DATA with a chosen reply; with `auth` it
 * requires AUTH PLAIN/LOGIN with those credentials (over plain TCP: STARTTLS is off, so the
 * client needs no certificate).
 */
export class SmtpSink {
  readonly mails: SinkMail[] = [];
  /** Attempts that reached DATA, accepted or not. */
  attempts = 0;
  /** Credentials tried, in order. */
  readonly logins: { username: string; password: string }[] = [];
  private readonly rejections: SmtpRejection[] = [];
  private readonly server: SMTPServer;

  private constructor(auth?: { user: string; pass: string }) {
    this.server = new SMTPServer({
      disabledCommands: auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
      authOptional: auth === undefined,
      allowInsecureAuth: true,
      logger: false,
      onAuth: (a, _session, callback) => {
        this.logins.push({ username: a.username ?? '', password: a.password ?? '' });
        if (auth && a.username === auth.user && a.password === auth.pass)
          return callback(null, { user: a.username });
        callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          this.attempts++;
          const rejection = this.rejections.shift();
          if (rejection)
            return callback(
              Object.assign(new Error(rejection.message), { responseCode: rejection.code }),
            );
          const raw = Buffer.concat(chunks).toString('utf8');
          this.mails.push(parseMail(raw, session));
          callback();
        });
      },
    });
  }

  static async start(auth?: { user: string; pass: string }): Promise<SmtpSink> {
    const sink = new SmtpSink(auth);
    await new Promise<void>((resolve) => sink.server.listen(0, '127.0.0.1', resolve));
    return sink;
  }

  get port(): number {
    return (this.server.server.address() as AddressInfo).port;
  }

  /** Refuses the next messages, one rejection each. */
  rejectNext(...rejections: SmtpRejection[]): this {
    this.rejections.push(...rejections);
    return this;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function parseMail(
  raw: string,
  session: { envelope: { mailFrom: false | { address: string }; rcptTo: { address: string }[] } },
): SinkMail {
  const cut = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, cut).replace(/\r\n[ \t]+/g, ' ');
  const headers: Record<string, string> = {};
  for (const line of head.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  let text = raw.slice(cut + 4);
  if (/quoted-printable/i.test(headers['content-transfer-encoding'] ?? ''))
    text = Buffer.from(
      text
        .replace(/=\r\n/g, '')
        .replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
      'latin1',
    ).toString('utf8');
  return {
    from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
    to: session.envelope.rcptTo.map((r) => r.address),
    headers,
    subject: headers.subject ?? '',
    text: text.replace(/\r\n/g, '\n'),
    raw,
  };
}
