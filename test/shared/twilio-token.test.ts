import t from 'tap';
import { tokenFromParameters, tokenParameters } from '../../shared/src/protocol/twilio-token.ts';

t.test('a long token splits into parameters under the Twilio limit and joins back exactly', async (t) => {
  const token = Array.from({ length: 2000 }, (_, i) => String.fromCharCode(65 + (i % 26))).join('');
  const params = tokenParameters(token);
  t.equal(params.length, 5);
  t.same(params.map((p) => p.name), ['token', 'token_1', 'token_2', 'token_3', 'token_4']);
  for (const p of params) t.ok(p.name.length + p.value.length < 500);
  const custom = Object.fromEntries(params.map((p) => [p.name, p.value]));
  t.equal(tokenFromParameters({ ...custom, tenant: 'acme' }), token);
});

t.test('a short token is one parameter; absent token is null; a gap ends the join', async (t) => {
  t.same(tokenParameters('abc'), [{ name: 'token', value: 'abc' }]);
  t.equal(tokenFromParameters({ token: 'abc' }), 'abc');
  t.equal(tokenFromParameters({}), null);
  t.equal(tokenFromParameters({ token: '' }), null);
  t.equal(tokenFromParameters({ token: 'a', token_1: 'b', token_3: 'd' }), 'ab');
});
