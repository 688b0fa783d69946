/**
 * Cutting user text (a sender name, a subject) so a payload fits a provider's size limit.
 * Cuts fall between grapheme clusters (Intl.Segmenter), so a cut never splits a UTF-16 surrogate
 * pair, a UTF-8 sequence, or an emoji ZWJ sequence / flag / combining mark.
 */

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

export const ELLIPSIS = '…';

/**
 * The longest `text` that `fits`: `text` itself, else its longest prefix of whole grapheme
 * clusters followed by `…`, else `''`. `fits` must be monotonic (a longer candidate never fits
 * when a shorter one does not), which holds for "serialised size ≤ limit".
 *
 * `maxBytes` bounds the work for huge inputs: no prefix longer than that many UTF-16 code units
 * can fit a limit of that many bytes, since every code unit costs at least one byte of UTF-8.
 */
export function shortenToFit(text: string, fits: (candidate: string) => boolean, maxBytes: number): string {
  if (fits(text)) return text;
  let source = text;
  let dropLast = false;
  if (source.length > maxBytes + 1) {
    source = source.slice(0, maxBytes + 1);
    // The slice may have cut a cluster (or a surrogate pair) in two: never keep its last piece.
    dropLast = true;
  }
  const segments = Array.from(segmenter.segment(source), (s) => s.segment);
  if (dropLast) segments.pop();
  const candidate = (count: number) => segments.slice(0, count).join('').trimEnd() + ELLIPSIS;
  // Largest count whose candidate fits. All segments form the whole text (known not to fit)
  // unless the slice above already shortened it.
  let low = 0;
  let high = dropLast ? segments.length : segments.length - 1;
  let best = -1;
  while (low <= high) {
    const mid = (low + high) >>> 1;
    if (fits(candidate(mid))) {
      best = mid;
      low = mid + 1;
    } else {
      high = mid - 1;
    }
  }
  return best >= 0 ? candidate(best) : '';
}

export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}
