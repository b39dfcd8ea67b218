using System.Numerics;

namespace Mlx.Kernels;

/// <summary>
/// The Walsh-Hadamard transform of rows of n = m * 2^k values (m in 1, 12, 20, 28), as mlx.core.hadamard_transform:
/// H = H_m (x) H_2^k, the row read as m consecutive chunks of 2^k; each chunk goes through the in-place butterfly
/// (Sylvester's natural order), then element i of every chunk is mixed by H_m. The m x m matrices are those of N. J. A.
/// Sloane's library that MLX uses (H_20 and H_28 are not symmetric, so the transposed transform is a different map).
/// </summary>
public static unsafe class Hadamard
{
    private const string H12 = """
        +-++++++++++
        --+-+-+-+-+-
        +++-++----++
        +---+--+-++-
        +++++-++----
        +-+---+--+-+
        ++--+++-++--
        +--++---+--+
        ++----+++-++
        +--+-++---+-
        ++++----+++-
        +-+--+-++---
        """;

    private const string H20 = """
        +----+----++--++-++-
        -+----+---+++---+-++
        --+----+---+++-+-+-+
        ---+----+---+++++-+-
        ----+----++--++-++-+
        -+++++-----+--+++--+
        +-+++-+---+-+--+++--
        ++-++--+---+-+--+++-
        +++-+---+---+-+--+++
        ++++-----++--+-+--++
        --++-+-++-+-----++++
        ---++-+-++-+---+-+++
        +---++-+-+--+--++-++
        ++---++-+----+-+++-+
        -++---++-+----+++++-
        -+--+--++-+----+----
        +-+-----++-+----+---
        -+-+-+---+--+----+--
        --+-+++------+----+-
        +--+--++------+----+
        """;

    private const string H28 = """
        +------++----++-+--+-+--++--
        -+-----+++-----+-+--+-+--++-
        --+-----+++---+-+-+----+--++
        ---+-----+++---+-+-+-+--+--+
        ----+-----+++---+-+-+++--+--
        -----+-----++++--+-+--++--+-
        ------++----++-+--+-+--++--+
        --++++-+-------++--+++-+--+-
        ---++++-+-----+-++--+-+-+--+
        +---+++--+----++-++--+-+-+--
        ++---++---+----++-++--+-+-+-
        +++---+----+----++-++--+-+-+
        ++++--------+-+--++-++--+-+-
        -++++--------+++--++--+--+-+
        -+-++-++--++--+--------++++-
        +-+-++--+--++--+--------++++
        -+-+-++--+--++--+----+---+++
        +-+-+-++--+--+---+---++---++
        ++-+-+-++--+------+--+++---+
        -++-+-+-++--+------+-++++---
        +-++-+---++--+------+-++++--
        -++--++-+-++-+++----++------
        +-++--++-+-++-+++-----+-----
        ++-++---+-+-++-+++-----+----
        -++-++-+-+-+-+--+++-----+---
        --++-++++-+-+----+++-----+--
        +--++-+-++-+-+----+++-----+-
        ++--++-+-++-+-+----++------+
        """;

    /// <summary>n = m * 2^k with m in (1, 12, 20, 28), or null when n has no such form (or 2^k is over 2^26, as MLX).</summary>
    public static (int PowerOfTwo, int M)? Decompose(int n)
    {
        if (n <= 0) return null;
        int m = 1;
        if ((n & (n - 1)) != 0)
        {
            foreach (int f in new[] { 12, 20, 28 })
            {
                if (n % f == 0 && ((n / f) & (n / f - 1)) == 0)
                {
                    m = f;
                    break;
                }
            }
            if (m == 1) return null;
        }
        int p = n / m;
        return p > 1 << 26 ? null : (p, m);
    }

    // +1 / -1 entries of the m x m matrix, row-major.
    private static sbyte[] Matrix(int m)
    {
        string text = m switch { 12 => H12, 20 => H20, 28 => H28, _ => throw new ArgumentOutOfRangeException(nameof(m)) };
        return text.Where(c => c is '+' or '-').Select(c => c == '+' ? (sbyte)1 : (sbyte)-1).ToArray();
    }

    /// <summary>
    /// In place: each of <paramref name="rows"/> contiguous rows of n = m * p values becomes scale * H x (or scale * H^T x
    /// when <paramref name="transposed"/>), computed in T (float or double).
    /// </summary>
    public static void Transform<T>(T* data, long rows, int p, int m, bool transposed, T scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var h = m > 1 ? Matrix(m) : null;
        int n = p * m;
        nint pd = (nint)data;
        Parallelism.For(rows, (long)n * (BitOperations.Log2((uint)p) + m), (start, end) =>
        {
            var mixed = new T[m];
            for (long r = start; r < end; r++)
            {
                T* row = (T*)pd + r * n;
                for (int c = 0; c < m; c++) Butterflies(row + c * p, p);
                if (h is null)
                {
                    for (int i = 0; i < n; i++) row[i] *= scale;
                    continue;
                }
                for (int i = 0; i < p; i++)
                {
                    for (int j = 0; j < m; j++)
                    {
                        T acc = T.Zero;
                        for (int k = 0; k < m; k++)
                        {
                            T x = row[i + k * p];
                            acc += (transposed ? h[j + k * m] : h[k + j * m]) > 0 ? x : -x;
                        }
                        mixed[j] = acc;
                    }
                    for (int j = 0; j < m; j++) row[i + j * p] = mixed[j] * scale;
                }
            }
        });
    }

    // The unscaled Sylvester transform of p = 2^k values in place: pairs h apart become (x + y, x - y), h = 1, 2, 4, ...
    private static void Butterflies<T>(T* x, int p) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int h = 1; h < p; h <<= 1)
        {
            int w = Vector<T>.Count;
            for (int j0 = 0; j0 < p; j0 += 2 * h)
            {
                if (h >= w)
                {
                    for (int j = j0; j < j0 + h; j += w)
                    {
                        var a = *(Vector<T>*)(x + j);
                        var b = *(Vector<T>*)(x + j + h);
                        *(Vector<T>*)(x + j) = a + b;
                        *(Vector<T>*)(x + j + h) = a - b;
                    }
                    continue;
                }
                for (int j = j0; j < j0 + h; j++)
                {
                    T a = x[j], b = x[j + h];
                    x[j] = a + b;
                    x[j + h] = a - b;
                }
            }
        }
    }
}
