namespace Mlx.Kernels.Tests;

/// <summary>Strided.Copy against index arithmetic, above all the tiled path for sources laid out along another dim.</summary>
public unsafe class StridedCopyTests
{
    // dst (row-major over `shape`) must equal src read through `strides` (in elements); src holds its own index.
    private static void Check<T>(int[] shape, long[] strides, Func<long, T> make) where T : unmanaged, IEquatable<T>
    {
        long span = 1;
        for (int d = 0; d < shape.Length; d++) span += (shape[d] - 1) * strides[d];
        var src = new T[span];
        for (long i = 0; i < span; i++) src[i] = make(i);
        long n = shape.Aggregate(1L, (a, b) => a * b);
        var dst = new T[n];
        fixed (T* s = src, d = dst)
        {
            Strided.Copy(s, shape, strides, d);
        }
        var idx = new int[shape.Length];
        for (long flat = 0; flat < n; flat++)
        {
            long rem = flat, off = 0;
            for (int d = shape.Length - 1; d >= 0; d--)
            {
                idx[d] = (int)(rem % shape[d]);
                rem /= shape[d];
                off += idx[d] * strides[d];
            }
            Assert.True(src[off].Equals(dst[flat]), $"element {flat} of ({string.Join(",", shape)}) / ({string.Join(",", strides)})");
        }
    }

    public static IEnumerable<object[]> Layouts() => new[]
    {
        new object[] { new[] { 37, 45 }, new long[] { 1, 37 } },              // a transpose with tails in both dims
        new object[] { new[] { 64, 64 }, new long[] { 1, 64 } },              // whole tiles only
        new object[] { new[] { 33, 40 }, new long[] { 1, 50 } },              // a transposed slice (source rows padded)
        new object[] { new[] { 3, 40, 35 }, new long[] { 1400, 1, 40 } },     // planes of transposes
        new object[] { new[] { 40, 3, 35 }, new long[] { 1, 1400, 40 } },     // the source's contiguous dim outermost
        new object[] { new[] { 5, 7, 36 }, new long[] { 7, 1, 35 } },         // a plane dim with a small stride
        new object[] { new[] { 9, 100 }, new long[] { 1, 9 } },               // too few rows for a tile: element-wise
    };

    [Theory]
    [MemberData(nameof(Layouts))]
    public void EveryElementSize(int[] shape, long[] strides)
    {
        Check(shape, strides, i => (float)i);
        Check(shape, strides, i => (double)i);
        Check(shape, strides, i => (ushort)i);
        Check(shape, strides, i => (byte)i);
    }

    [Theory]
    [InlineData(100)] // one call
    [InlineData(3_000_017)] // blocks of 64 KB across both threads, a partial last block
    public void CopyBytesCopiesEveryByte(int n)
    {
        var src = Enumerable.Range(0, n).Select(i => (byte)(i * 7 + i / 251)).ToArray();
        var dst = new byte[n + 2];
        fixed (byte* s = src, d = dst) Strided.CopyBytes(s, d + 1, n);
        Assert.Equal(0, dst[0]);
        Assert.Equal(0, dst[n + 1]);
        Assert.True(src.AsSpan().SequenceEqual(dst.AsSpan(1, n)));
        // Overlapping ranges, both directions: as memmove.
        foreach (int shift in new[] { 4097, -4097 })
        {
            var buffer = Enumerable.Range(0, n + 8192).Select(i => (byte)(i * 13 + i / 97)).ToArray();
            var want = (byte[])buffer.Clone();
            int from = shift > 0 ? 0 : 8192, to = from + shift;
            Array.Copy(want, from, want, to, n);
            fixed (byte* b = buffer) Strided.CopyBytes(b + from, b + to, n);
            Assert.True(want.AsSpan().SequenceEqual(buffer), $"shift {shift}");
        }
    }
}
