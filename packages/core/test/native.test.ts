import { describe, expect, it } from 'vitest';
import { nativeCandidates } from '../src/index.js';
import { native } from '../src/native.js';

describe('native loader', () => {
  it('looks for an explicit path, then the monorepo build, then the shipped prebuild', () => {
    const list = nativeCandidates();
    expect(list.at(-1)).toMatch(new RegExp(`prebuilds/${process.platform}-${process.arch}/vnf_core\\.node$`));
    expect(list.at(-2)).toMatch(/native\/build\/Release\/vnf_core\.node$/);
  });

  it('runs against the sanitizer build when the sanitized suite asks for it', () => {
    expect(native.sanitized).toBe(process.env.VNF_EXPECT_SANITIZED === '1');
  });
});
