/**
 * A local OpenID Connect provider for tests/test_sso.py, standing in for the commission's OA system.
 * It is panva's `oidc-provider` (a certified OpenID provider), configured with one confidential client,
 * PKCE required, fixed accounts and a non-interactive login.
 *
 *   node provider.mjs [port]
 *
 * Environment: OIDC_PORT (when no argument is given), OIDC_CLIENT_ID, OIDC_CLIENT_SECRET,
 * OIDC_REDIRECT_URIS (comma separated). The issuer is http://127.0.0.1:<port>; "listening <issuer>" is printed
 * once it serves.
 *
 * Login: the provider sends the browser to GET /interaction/<uid> (a small form). POST /interaction/<uid> with
 * `login=<OA login>` signs that account in and grants the requested scopes in one step; `cancel=1` (or an unknown
 * login) answers the client with error=access_denied.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const port = Number(process.argv[2] || process.env.OIDC_PORT || 8901);
const issuer = `http://127.0.0.1:${port}`;

// OA accounts by login name. `sub` is the OA's stable user id; the other claims are what the OA knows.
const ACCOUNTS = {
  zhangsan: { sub: 'oa-1001', name: '张三', email: 'zhangsan@oa.hz.example', phone_number: '13800001001' },
  lisi: { sub: 'oa-1002', name: '李四', email: 'lisi@oa.hz.example', phone_number: '13800001002' },
  wangwu: { sub: 'oa-1003', name: '王五', email: 'wangwu@oa.hz.example', phone_number: '13800001003' },
  zhaoliu: { sub: 'oa-1004', name: '赵六', email: 'zhaoliu@oa.hz.example', phone_number: '13800001004' },
  qianqi: { sub: 'oa-1005', name: '钱七', email: 'qianqi@oa.hz.example', phone_number: '13800001005' },
  sunba: { sub: 'oa-1006', name: '孙八', email: 'sunba@oa.hz.example', phone_number: '13800001006' },
};
const BY_SUB = Object.fromEntries(
  Object.entries(ACCOUNTS).map(([login, a]) => [a.sub, { ...a, preferred_username: login }]),
);

// A fresh signing key per run (the relying party reads it from jwks_uri).
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: `test-${randomBytes(4).toString('hex')}`, use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.OIDC_CLIENT_ID || 'chengjian',
    client_secret: process.env.OIDC_CLIENT_SECRET || 'chengjian-test-secret',
    redirect_uris: (process.env.OIDC_REDIRECT_URIS || 'http://127.0.0.1:8000/api/auth/sso/callback').split(','),
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(16).toString('hex')] },
  features: { devInteractions: { enabled: false } },
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
    phone: ['phone_number', 'phone_number_verified'],
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const account = BY_SUB[sub];
    if (!account) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { ...account, email_verified: true, phone_number_verified: true };
      },
    };
  },
});

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

/** GET shows the login form; POST signs the named account in and consents to the requested scopes. */
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'GET') {
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.end(`<!doctype html><title>OA 登录</title><form method="post" action="/interaction/${details.uid}">`
      + '<input name="login" placeholder="OA 账号"> <button>登录</button> '
      + '<button name="cancel" value="1">取消</button></form>');
    return;
  }
  const form = await readForm(req);
  const account = ACCOUNTS[form.get('login') || ''];
  if (form.get('cancel') || !account) {
    await provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
    return;
  }
  const grant = new provider.Grant({ accountId: account.sub, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { login: { accountId: account.sub }, consent: { grantId } },
    { mergeWithLastSubmission: false });
}

const handle = provider.callback();
http.createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      res.statusCode = 400;
      res.end(String(err));
    });
  } else {
    handle(req, res);
  }
}).listen(port, '127.0.0.1', () => console.log(`listening ${issuer}`));

process.on('SIGTERM', () => process.exit(0));
