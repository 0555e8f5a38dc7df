/**
 * The small JS-side Tensor: construction from nested arrays and typed arrays, dtypes, toArray,
 * reshape, dispose. Bad input is a ValueError naming where it is, never a silent NaN (rule 13).
 */
import { describe, expect, it } from 'vitest';
import { DisposedError, Tensor, ValueError, tensor, zeros } from '../../ts/src/index.ts';

function errorOf(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error, but the call returned');
}

describe('tensor() from nested arrays', () => {
  it('infers shapes of every rank, row-major', () => {
    expect(tensor(5).shape).toEqual([]);
    expect(Array.from(tensor(5).data)).toEqual([5]);
    expect(tensor([1, 2, 3]).shape).toEqual([3]);
    const t = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(t.shape).toEqual([2, 3]);
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4, 5, 6]);
    const t3 = tensor([[[1], [2]], [[3], [4]], [[5], [6]]]);
    expect(t3.shape).toEqual([3, 2, 1]);
    expect(t3.rank).toBe(3);
    expect(t3.size).toBe(6);
    expect(Array.from(t3.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(t3.dtype).toBe('float32');
    expect(t3.data).toBeInstanceOf(Float32Array);
  });

  it('an empty array is shape (0); booleans become 0/1', () => {
    expect(tensor([]).shape).toEqual([0]);
    expect(tensor([]).size).toBe(0);
    expect(Array.from(tensor([true, false, true]).data)).toEqual([1, 0, 1]);
  });

  it('a ragged array is a ValueError naming the path, the count and the inferred shape', () => {
    const short = errorOf(() => tensor([[1, 2], [3]]));
    expect(short).toBeInstanceOf(ValueError);
    expect(short.message).toContain('element at [1] has 1 entries, expected 2');
    expect(short.message).toContain('(2, 2)');
    const deep = errorOf(() => tensor([[[1, 2], [3, 4]], [[5, 6], [7]]]));
    expect(deep).toBeInstanceOf(ValueError);
    expect(deep.message).toContain('element at [1, 1] has 1 entries, expected 2');
    const scalarInRow = errorOf(() => tensor([[1, 2], 3] as never));
    expect(scalarInRow).toBeInstanceOf(ValueError);
    expect(scalarInRow.message).toContain('element at [1] has no entries, expected 2');
    const arrayInRow = errorOf(() => tensor([1, [2, 3]] as never));
    expect(arrayInRow).toBeInstanceOf(ValueError);
    expect(arrayInRow.message).toContain('element at [1] is an array, expected a number');
  });

  it('an array of typed-array rows gives their values (as tfjs does), not a silent NaN', () => {
    let t: Tensor | null = null;
    let error: unknown = null;
    try {
      t = tensor([new Float32Array([1, 2]), new Float32Array([3, 4])] as never);
    } catch (e) {
      error = e;
    }
    if (t !== null) {
      expect(t.shape).toEqual([2, 2]);
      expect(Array.from(t.data)).toEqual([1, 2, 3, 4]);
    } else {
      expect(error).toBeInstanceOf(ValueError);
    }
  });

  it('a non-number element is a ValueError naming its path, not a silent NaN', () => {
    const e = errorOf(() => tensor([[1, 2], ['3', 4]] as never));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.message).toContain('[1, 0]');
  });

  it('an explicit shape must match the number of values', () => {
    expect(tensor([1, 2, 3, 4, 5, 6], [2, 3]).shape).toEqual([2, 3]);
    const e = errorOf(() => tensor([1, 2, 3], [2, 2]));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.message).toContain('tensor shape (2, 2) needs 4 values, got 3');
    expect(() => tensor([1, 2], [2.5])).toThrow(ValueError);
    expect(() => tensor([1, 2], [-2])).toThrow(/non-negative integers/);
  });
});

describe('tensor() from typed arrays', () => {
  it('takes a shape, defaults to 1-D, and copies the values', () => {
    const src = new Float32Array([1, 2, 3, 4, 5, 6]);
    const t = tensor(src, [3, 2]);
    expect(t.shape).toEqual([3, 2]);
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4, 5, 6]);
    src[0] = 99;
    expect(t.data[0]).toBe(1);
    expect(tensor(new Float32Array(4)).shape).toEqual([4]);
    expect(() => tensor(new Float32Array(5), [2, 3])).toThrow(/needs 6 values, got 5/);
  });

  it('Float64Array and Uint8Array become float32; Int32Array stays int32', () => {
    const f = tensor(new Float64Array([1.5, -2]));
    expect(f.dtype).toBe('float32');
    expect(Array.from(f.data)).toEqual([1.5, -2]);
    expect(tensor(new Uint8Array([1, 2])).dtype).toBe('float32');
    const i = tensor(new Int32Array([1, -2, 3]));
    expect(i.dtype).toBe('int32');
    expect(i.data).toBeInstanceOf(Int32Array);
  });

  it('the Tensor constructor checks the shape against the data', () => {
    expect(new Tensor(new Float32Array(6), [2, 3]).shape).toEqual([2, 3]);
    expect(() => new Tensor(new Float32Array(6), [4, 2])).toThrow(ValueError);
    // The shape is frozen: a layer can trust it.
    const t = new Tensor(new Float32Array(6), [2, 3]);
    expect(Object.isFrozen(t.shape)).toBe(true);
  });
});

describe('int32 dtype', () => {
  it('from nested arrays of integers', () => {
    const t = tensor([[1, 2], [3, -4]], undefined, 'int32');
    expect(t.dtype).toBe('int32');
    expect(t.data).toBeInstanceOf(Int32Array);
    expect(t.toArray()).toEqual([
      [1, 2],
      [3, -4],
    ]);
    expect(zeros([2, 2], 'int32').dtype).toBe('int32');
  });

  it('a fractional value is a ValueError naming its flat index', () => {
    const e = errorOf(() => tensor([1, 2, 2.5], undefined, 'int32'));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.message).toContain('value 2.5 at flat index 2 is not an integer');
  });

  it('a value outside the int32 range is a ValueError, not a silent wrap-around', () => {
    const e = (() => {
      try {
        return tensor([1, 2 ** 40], undefined, 'int32');
      } catch (err) {
        return err;
      }
    })();
    if (e instanceof Tensor) {
      throw new Error(`tensor([1, 2^40], int32) returned ${Array.from(e.data)} instead of throwing`);
    }
    expect(e).toBeInstanceOf(ValueError);
  });
});

describe('toArray, reshape, clone, dispose', () => {
  it('toArray round-trips nested arrays of every rank', () => {
    const cases = [7, [1, 2, 3], [[1, 2], [3, 4], [5, 6]], [[[1, 2, 3]], [[4, 5, 6]]], [[]]];
    for (const c of cases) {
      const t = tensor(c as never);
      expect(t.toArray()).toEqual(c);
      expect(tensor(t.toArray()).shape).toEqual(t.shape);
    }
    // float32 rounding shows in the round trip of a non-representable value.
    expect(tensor([0.1]).toArray()).toEqual([Math.fround(0.1)]);
  });

  it('reshape with -1 infers one axis and shares nothing it should not', () => {
    const t = tensor([1, 2, 3, 4, 5, 6]);
    expect(t.reshape([-1, 3]).shape).toEqual([2, 3]);
    expect(t.reshape([3, -1]).shape).toEqual([3, 2]);
    expect(t.reshape([2, -1, 1]).shape).toEqual([2, 3, 1]);
    expect(t.reshape([-1]).shape).toEqual([6]);
    expect(t.reshape([2, 3]).toArray()).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(tensor([]).reshape([-1, 3]).shape).toEqual([0, 3]);
  });

  it('a reshape that does not fit names both shapes', () => {
    const t = tensor([1, 2, 3, 4, 5, 6]);
    for (const shape of [[-1, 4], [4, 2], [-1, 0]]) {
      const e = errorOf(() => t.reshape(shape));
      expect(e).toBeInstanceOf(ValueError);
      expect(e.message).toContain(`cannot reshape (6) to (${shape.join(', ')})`);
    }
    expect(() => t.reshape([-1, -1])).toThrow(ValueError);
  });

  it('clone and dataSync are copies', () => {
    const t = tensor([1, 2, 3]);
    const c = t.clone();
    const d = t.dataSync();
    t.data[0] = 9;
    expect(c.data[0]).toBe(1);
    expect(d[0]).toBe(1);
    expect(t.toString()).toBe('Tensor(float32, [3])');
  });

  it('after dispose every read is a DisposedError naming the shape; the shape itself stays readable', () => {
    const t = tensor([
      [1, 2],
      [3, 4],
    ]);
    t.dispose();
    expect(t.isDisposed).toBe(true);
    expect(t.shape).toEqual([2, 2]);
    for (const f of [() => t.data, () => t.toArray(), () => t.reshape([4]), () => t.clone(), () => t.dataSync()]) {
      const e = errorOf(f);
      expect(e).toBeInstanceOf(DisposedError);
      expect(e.message).toContain('this tensor (2, 2) was disposed');
    }
    t.dispose(); // twice is fine
  });
});
