import { socketHost } from './http-target';

describe('socketHost', () => {
  it.each([
    ['http://127.0.0.1:8000/x', '127.0.0.1'],
    ['https://s3.example.com', 's3.example.com'],
    ['http://[::1]:8000', '::1'],
    ['https://[2001:db8::7]/v1/traces', '2001:db8::7'],
  ])('%s connects to %s', (url, host) => {
    expect(socketHost(new URL(url))).toBe(host);
  });
});
