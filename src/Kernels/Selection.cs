using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Mlx.Kernels;

/// <summary>
/// Argsort, partition and top-k of contiguous rows through integer sort keys. Each value maps to an unsigned key
/// with the order MLX sorts in (ascending, -0 equal to +0, every NaN equal and after +inf), and the key is joined
/// with the element's position: (key, position) as one integer. Keys are then all distinct, ties fall to the
/// position (a stable order with no comparison delegate), and a plain integer sort or selection does the work.
/// Keys of up to 32 bits join into a ulong, 64-bit ones into a UInt128; sorting keys of up to 32 bits is a radix
/// sort of the keys alone, which is stable by construction.
/// </summary>
public static unsafe class Selection
{
    /// <summary>The order-preserving unsigned key of <paramref name="v"/> (see the class summary).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Key<T>(T v) where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            float f = Unsafe.As<T, float>(ref v);
            if (float.IsNaN(f)) return uint.MaxValue;
            uint b = BitConverter.SingleToUInt32Bits(f == 0 ? 0f : f);
            // Negative: all bits flipped; positive: the sign bit set. Branch-free (random signs mispredict).
            return b ^ ((uint)((int)b >> 31) | 0x8000_0000u);
        }
        if (typeof(T) == typeof(double))
        {
            double d = Unsafe.As<T, double>(ref v);
            if (double.IsNaN(d)) return ulong.MaxValue;
            ulong b = BitConverter.DoubleToUInt64Bits(d == 0 ? 0d : d);
            return b ^ ((ulong)((long)b >> 63) | 0x8000_0000_0000_0000ul);
        }
        if (typeof(T) == typeof(sbyte)) return (byte)(Unsafe.As<T, sbyte>(ref v) ^ sbyte.MinValue);
        if (typeof(T) == typeof(short)) return (ushort)(Unsafe.As<T, short>(ref v) ^ short.MinValue);
        if (typeof(T) == typeof(int)) return (uint)(Unsafe.As<T, int>(ref v) ^ int.MinValue);
        if (typeof(T) == typeof(long)) return (ulong)(Unsafe.As<T, long>(ref v) ^ long.MinValue);
        if (typeof(T) == typeof(byte)) return Unsafe.As<T, byte>(ref v);
        if (typeof(T) == typeof(ushort)) return Unsafe.As<T, ushort>(ref v);
        if (typeof(T) == typeof(uint)) return Unsafe.As<T, uint>(ref v);
        if (typeof(T) == typeof(ulong)) return Unsafe.As<T, ulong>(ref v);
        throw new NotSupportedException($"No sort key for {typeof(T).Name}.");
    }

    /// <summary>
    /// Each row of length n in the stable ascending order: the values into <paramref name="values"/> (which may be
    /// <paramref name="x"/> itself) or their positions into <paramref name="indices"/>. Keys of up to 32 bits take
    /// the radix sort; 64-bit keys (and rows past <see cref="RadixMaxRow"/>) an integer sort of the joined keys.
    /// </summary>
    public static void SortRows<T>(T* x, T* values, uint* indices, long rows, int n) where T : unmanaged
    {
        if (sizeof(T) <= 4 && n <= RadixMaxRow) RadixSortRows(x, values, indices, rows, n);
        else if (sizeof(T) <= 4) SortJoined<T, ulong>(x, values, indices, rows, n);
        else SortJoined<T, UInt128>(x, values, indices, rows, n);
    }

    /// <summary>
    /// Rows of up to 32-bit values sorted in the stable order (values into <paramref name="values"/> and/or positions
    /// into <paramref name="indices"/>) by a least-significant-digit radix sort of the keys, a byte a pass: a counting
    /// pass and a scatter pass over each row, stable, so equal keys (NaNs, -0 and +0, ties) keep their input order,
    /// with the values themselves carried along (NaN payloads and zero signs unchanged). A byte that every key shares
    /// costs only its count. 4096 rows of 1024 floats: 27 ms for values and 34 for positions, against 90 and 68 ms
    /// by comparison sorts (measured side by side with TorchSharp, 2 cores).
    /// </summary>
    public static void RadixSortRows<T>(T* x, T* values, uint* indices, long rows, int n) where T : unmanaged
    {
        if (sizeof(T) > 4 || n > RadixMaxRow) throw new NotSupportedException("Radix sort takes keys of up to 32 bits and rows of up to 2^26.");
        if (rows == 0 || n == 0) return;
        nint px = (nint)x, pv = (nint)values, pi = (nint)indices;
        Parallelism.For(rows, (long)n * 16, (s, e) =>
        {
            // Two key and two payload buffers (ping-pong between passes) and the byte counts, pinned once.
            var scratch = new uint[4 * n + 256];
            fixed (uint* basePtr = scratch)
            {
                uint* keyA = basePtr, keyB = basePtr + n, payA = basePtr + 2 * n, payB = basePtr + 3 * n;
                int* count = (int*)(basePtr + 4 * n);
                for (long r = s; r < e; r++)
                {
                    T* row = (T*)px + r * n;
                    for (int i = 0; i < n; i++)
                    {
                        keyA[i] = (uint)Key(row[i]);
                        payA[i] = pi != 0 ? (uint)i : Bits(row[i]);
                    }
                    uint* k0 = keyA, k1 = keyB, p0 = payA, p1 = payB;
                    for (int shift = 0; shift < 8 * sizeof(T); shift += 8)
                    {
                        new Span<int>(count, 256).Clear();
                        for (int i = 0; i < n; i++) count[(k0[i] >> shift) & 255]++;
                        if (count[(k0[0] >> shift) & 255] == n) continue; // every key has this byte: nothing moves
                        int sum = 0;
                        for (int b = 0; b < 256; b++)
                        {
                            int c = count[b];
                            count[b] = sum;
                            sum += c;
                        }
                        for (int i = 0; i < n; i++)
                        {
                            uint k = k0[i];
                            int d = count[(k >> shift) & 255]++;
                            k1[d] = k;
                            p1[d] = p0[i];
                        }
                        uint* t = k0; k0 = k1; k1 = t;
                        t = p0; p0 = p1; p1 = t;
                    }
                    if (pi != 0)
                    {
                        new ReadOnlySpan<uint>(p0, n).CopyTo(new Span<uint>((uint*)pi + r * n, n));
                    }
                    else
                    {
                        T* dst = (T*)pv + r * n;
                        for (int i = 0; i < n; i++) dst[i] = FromBits<T>(p0[i]);
                    }
                }
            }
        });
    }

    /// <summary>The longest row the radix sort takes (its scratch is four rows of uint).</summary>
    public const int RadixMaxRow = 1 << 26;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Bits<T>(T v) where T : unmanaged =>
        sizeof(T) == 1 ? Unsafe.As<T, byte>(ref v) : sizeof(T) == 2 ? Unsafe.As<T, ushort>(ref v) : Unsafe.As<T, uint>(ref v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T FromBits<T>(uint bits) where T : unmanaged
    {
        if (sizeof(T) == 1) { byte b = (byte)bits; return Unsafe.As<byte, T>(ref b); }
        if (sizeof(T) == 2) { ushort h = (ushort)bits; return Unsafe.As<ushort, T>(ref h); }
        return Unsafe.As<uint, T>(ref bits);
    }

    /// <summary>
    /// Each row of length n rearranged (into <paramref name="values"/> and/or its positions into
    /// <paramref name="indices"/>, either may be null) so that the element at kth is the one a stable sort puts
    /// there, those before it come no later in that order and those after it no earlier.
    /// </summary>
    public static void PartitionRows<T>(T* x, T* values, uint* indices, long rows, int n, int kth) where T : unmanaged
    {
        if (sizeof(T) <= 4) PartitionRows<T, ulong>(x, values, indices, rows, n, kth);
        else PartitionRows<T, UInt128>(x, values, indices, rows, n, kth);
    }

    /// <summary>
    /// The k largest of each row of length n (the last k of the stable ascending order), in ascending order, into
    /// <paramref name="values"/> and/or their positions into <paramref name="indices"/> (rows of length k).
    /// </summary>
    public static void TopKRows<T>(T* x, T* values, uint* indices, long rows, int n, int k) where T : unmanaged
    {
        if (sizeof(T) <= 4) TopKRows<T, ulong>(x, values, indices, rows, n, k);
        else TopKRows<T, UInt128>(x, values, indices, rows, n, k);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TKey Joined<T, TKey>(T v, int position) where T : unmanaged where TKey : IBinaryInteger<TKey> =>
        (TKey.CreateTruncating(Key(v)) << 32) | TKey.CreateTruncating((uint)position);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int PositionOf<TKey>(TKey joined) where TKey : IBinaryInteger<TKey> => (int)uint.CreateTruncating(joined);

    private static void SortJoined<T, TKey>(T* x, T* values, uint* indices, long rows, int n) where T : unmanaged where TKey : unmanaged, IBinaryInteger<TKey>
    {
        if (rows == 0 || n == 0) return;
        nint px = (nint)x, pv = (nint)values, pi = (nint)indices;
        Parallelism.For(rows, (long)n * 24, (s, e) =>
        {
            var keys = new TKey[n];
            var sorted = pv != 0 ? new T[n] : null; // values go through a copy: the output may be the input
            fixed (T* copy = sorted)
            {
                for (long r = s; r < e; r++)
                {
                    T* row = (T*)px + r * n;
                    for (int i = 0; i < n; i++) keys[i] = Joined<T, TKey>(row[i], i);
                    keys.AsSpan().Sort();
                    Write(row, keys, copy, (uint*)pi + r * n, pv != 0, pi != 0);
                    if (pv != 0) new ReadOnlySpan<T>(copy, n).CopyTo(new Span<T>((T*)pv + r * n, n));
                }
            }
        });
    }

    private static void PartitionRows<T, TKey>(T* x, T* values, uint* indices, long rows, int n, int kth) where T : unmanaged where TKey : unmanaged, IBinaryInteger<TKey>
    {
        if (rows == 0 || n == 0) return;
        nint px = (nint)x, pv = (nint)values, pi = (nint)indices;
        Parallelism.For(rows, (long)n * 8, (s, e) =>
        {
            var keys = new TKey[n];
            for (long r = s; r < e; r++)
            {
                T* row = (T*)px + r * n;
                for (int i = 0; i < n; i++) keys[i] = Joined<T, TKey>(row[i], i);
                Select(keys.AsSpan(), kth);
                Write(row, keys, (T*)pv + r * n, (uint*)pi + r * n, pv != 0, pi != 0);
            }
        });
    }

    private static void TopKRows<T, TKey>(T* x, T* values, uint* indices, long rows, int n, int k) where T : unmanaged where TKey : unmanaged, IBinaryInteger<TKey>
    {
        if (rows == 0 || k == 0) return;
        nint px = (nint)x, pv = (nint)values, pi = (nint)indices;
        Parallelism.For(rows, (long)n * 4, (s, e) =>
        {
            var keys = new TKey[Math.Max(n, 1)];
            for (long r = s; r < e; r++)
            {
                T* row = (T*)px + r * n;
                Span<TKey> top;
                if (k <= 64 && k * 8 <= n)
                {
                    // A sorted window of the k largest so far: most elements fail the one comparison with its
                    // smallest, so the row costs about one pass.
                    top = keys.AsSpan(0, k);
                    for (int f = 0; f < k; f++) top[f] = Joined<T, TKey>(row[f], f);
                    top.Sort();
                    TKey floor = top[0];
                    int i = k;
                    if (typeof(T) == typeof(float) && Vector256.IsHardwareAccelerated)
                    {
                        // 8 keys at a time against the window's smallest: only the lanes that reach it are looked at.
                        for (; i + 8 <= n; i += 8)
                        {
                            var reach = Vector256.GreaterThanOrEqual(FloatKeys(Vector256.Load((float*)row + i)), Vector256.Create(uint.CreateTruncating(floor >> 32)));
                            for (uint lanes = reach.ExtractMostSignificantBits(); lanes != 0; lanes &= lanes - 1)
                            {
                                int at = i + BitOperations.TrailingZeroCount(lanes);
                                Insert(top, Joined<T, TKey>(row[at], at), ref floor);
                            }
                        }
                    }
                    for (; i < n; i++) Insert(top, Joined<T, TKey>(row[i], i), ref floor);
                }
                else
                {
                    for (int i = 0; i < n; i++) keys[i] = Joined<T, TKey>(row[i], i);
                    Select(keys.AsSpan(0, n), n - k);
                    top = keys.AsSpan(n - k, k);
                    top.Sort();
                }
                Write(row, top, (T*)pv + r * k, (uint*)pi + r * k, pv != 0, pi != 0);
            }
        });
    }

    /// <summary>Puts <paramref name="c"/> into the ascending window when it is above the window's smallest.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Insert<TKey>(Span<TKey> top, TKey c, ref TKey floor) where TKey : IBinaryInteger<TKey>
    {
        if (c <= floor) return;
        int j = 1;
        while (j < top.Length && top[j] < c) j++;
        top[1..j].CopyTo(top[..(j - 1)]);
        top[j - 1] = c;
        floor = top[0];
    }

    /// <summary><see cref="Key{T}(T)"/> of 8 floats at once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> FloatKeys(Vector256<float> x)
    {
        var b = Vector256.ConditionalSelect(Vector256.Equals(x, Vector256<float>.Zero).AsUInt32(), Vector256<uint>.Zero, x.AsUInt32());
        var key = b ^ (Vector256.ShiftRightArithmetic(b.AsInt32(), 31).AsUInt32() | Vector256.Create(0x8000_0000u));
        return Vector256.ConditionalSelect(Vector256.Equals(x, x).AsUInt32(), key, Vector256<uint>.AllBitsSet);
    }

    private static void Write<T, TKey>(T* row, ReadOnlySpan<TKey> keys, T* values, uint* indices, bool writeValues, bool writeIndices)
        where T : unmanaged where TKey : unmanaged, IBinaryInteger<TKey>
    {
        for (int i = 0; i < keys.Length; i++)
        {
            int p = PositionOf(keys[i]);
            if (writeValues) values[i] = row[p];
            if (writeIndices) indices[i] = (uint)p;
        }
    }

    /// <summary>
    /// Rearranges distinct <paramref name="a"/> so that a[kth] is the kth smallest, smaller ones before it and larger
    /// after: quickselect with a median-of-three pivot, falling back to a sort of what remains when the pivots keep
    /// splitting badly (so the worst case stays n log n).
    /// </summary>
    public static void Select<TKey>(Span<TKey> a, int kth) where TKey : IBinaryInteger<TKey>
    {
        int lo = 0, hi = a.Length - 1;
        int budget = 2 * BitOperations.Log2((uint)Math.Max(a.Length, 1)) + 4;
        while (hi > lo)
        {
            if (hi - lo < 16 || budget-- == 0)
            {
                a[lo..(hi + 1)].Sort();
                return;
            }
            int mid = lo + (hi - lo) / 2;
            if (a[mid] < a[lo]) (a[mid], a[lo]) = (a[lo], a[mid]);
            if (a[hi] < a[lo]) (a[hi], a[lo]) = (a[lo], a[hi]);
            if (a[hi] < a[mid]) (a[hi], a[mid]) = (a[mid], a[hi]);
            TKey pivot = a[mid];
            int i = lo, j = hi;
            while (i <= j)
            {
                while (a[i] < pivot) i++;
                while (a[j] > pivot) j--;
                if (i <= j)
                {
                    (a[i], a[j]) = (a[j], a[i]);
                    i++;
                    j--;
                }
            }
            if (kth <= j) hi = j;
            else if (kth >= i) lo = i;
            else return;
        }
    }
}
