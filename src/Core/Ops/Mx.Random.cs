using Mlx.Kernels.Random;

namespace Mlx;

public static partial class Mx
{
    /// <summary>
    /// Key-based random numbers (mlx.core.random), bit-exact with MLX's CPU backend: Threefry-2x32 with 20 rounds.
    /// Every function takes an optional key; without one it splits the global key set by <see cref="Seed"/>.
    /// </summary>
    public static class Random
    {
        private static readonly object s_lock = new();
        private static (uint, uint) s_state = Threefry.Key((ulong)DateTime.UtcNow.Ticks);

        /// <summary>A PRNG key from a seed: a uint32 array of shape [2].</summary>
        public static MxArray Key(ulong seed, StreamOrDevice? stream = null)
        {
            using var placement = Place(stream);
            var (k0, k1) = Threefry.Key(seed);
            return Array(new[] { k0, k1 });
        }

        /// <summary>Seeds the global key.</summary>
        public static void Seed(ulong seed)
        {
            lock (s_lock)
            {
                s_state = Threefry.Key(seed);
            }
        }

        private static MxArray NextKey(MxArray? key)
        {
            if (key is not null)
            {
                if (key.DType != DType.UInt32 || key.Size != 2)
                {
                    throw new ArgumentException($"A random key is a uint32 array of 2 elements; got {key.DType.Name()} {MxArray.FormatShape(key.ShapeRef)}.");
                }
                return Reshape(key, new[] { 2 });
            }
            lock (s_lock)
            {
                var (first, second) = Threefry.Split(s_state.Item1, s_state.Item2);
                s_state = first;
                return Array(new[] { second.Item1, second.Item2 });
            }
        }

        /// <summary>Splits a key into <paramref name="num"/> keys, shape [num, 2].</summary>
        public static MxArray Split(MxArray key, int num = 2, StreamOrDevice? stream = null)
        {
            using var placement = Place(stream);
            if (num < 0) throw new ArgumentException("split: num must be non-negative.");
            return Reshape(Bits(new[] { num, 2 }, 4, key), new[] { num, 2 });
        }

        /// <summary>Random bits: uint32 (width 4), uint16 (2) or uint8 (1) of <paramref name="shape"/>.</summary>
        public static MxArray Bits(int[] shape, int width = 4, MxArray? key = null, StreamOrDevice? stream = null)
        {
            using var placement = Place(stream);
            var dt = width switch
            {
                4 => DType.UInt32,
                2 => DType.UInt16,
                1 => DType.UInt8,
                _ => throw new ArgumentException($"Bit width must be 1, 2 or 4, not {width}."),
            };
            Shapes.CheckedSize(shape);
            return MxArray.Create((int[])shape.Clone(), dt, new RandomPrimitive(RandomMode.Bits, width), NextKey(key));
        }

        /// <summary>Uniform in [low, high): (high - low) * u + low with u in [0, 1) as MLX computes it.</summary>
        public static MxArray Uniform(MxArray low, MxArray high, int[]? shape = null, DType dtype = DType.Float32, MxArray? key = null, StreamOrDevice? stream = null)
        {
            using var placement = Place(stream);
            if (!dtype.IsFloating()) throw new ArgumentException($"uniform needs a floating dtype, not {dtype.Name()}.");
            var outShape = shape ?? Shapes.Broadcast(low.ShapeRef, high.ShapeRef);
            var u = MxArray.Create((int[])outShape.Clone(), DType.Float32, new RandomPrimitive(RandomMode.UniformUnit, 4), NextKey(key));
            var lo = AsType(low, DType.Float32);
            var range = Subtract(AsType(high, DType.Float32), lo);
            return AsType(Add(Multiply(range, u), lo), dtype);
        }

        public static MxArray Uniform(int[] shape, DType dtype = DType.Float32, MxArray? key = null, StreamOrDevice? stream = null) =>
            Uniform(0.0, 1.0, shape, dtype, key, stream: stream);

        public static MxArray Uniform(double low, double high, int[] shape, DType dtype = DType.Float32, MxArray? key = null, StreamOrDevice? stream = null) =>
            Uniform(Array(low, DType.Float32), Array(high, DType.Float32), shape, dtype, key, stream: stream);

        /// <summary>Normal with mean <paramref name="loc"/> and standard deviation <paramref name="scale"/>.</summary>
        public static MxArray Normal(int[] shape, DType dtype = DType.Float32, double? loc = null, double? scale = null, MxArray? key = null, StreamOrDevice? stream = null)
        {
            using var placement = Place(stream);
            if (!dtype.IsFloating()) throw new ArgumentException($"normal needs a floating dtype, not {dtype.Name()}.");
            // loc and scale enter the float32 formula exactly where MLX applies them, so results stay bit-exact.
            var z = MxArray.Create((int[])shape.Clone(), DType.Float32,
                new RandomPrimitive(RandomMode.StandardNormal, 4, (float?)loc, (float?)scale), NextKey(key));
            return AsType(z, dtype);
        }

        /// <summary>Integers uniform in [low, high).</summary>
        public static MxArray Randint(MxArray low, MxArray high, int[]? shape = null, DType dtype = DType.Int32, MxArray? key = null, StreamOrDevice? stream = null)
        {
            using var placement = Place(stream);
            if (!dtype.IsInteger()) throw new ArgumentException($"randint needs an integer dtype, not {dtype.Name()}.");
            var u = Uniform(AsType(low, DType.Float32), AsType(high, DType.Float32), shape, DType.Float32, key);
            var r = AsType(Floor(u), dtype);
            return Maximum(Minimum(r, AsType(Subtract(high, Array(1, high.DType)), dtype)), AsType(low, dtype));
        }

        public static MxArray Randint(int low, int high, int[] shape, DType dtype = DType.Int32, MxArray? key = null, StreamOrDevice? stream = null) =>
            Randint(Array(low), Array(high), shape, dtype, key, stream: stream);

        /// <summary>True with probability <paramref name="p"/>.</summary>
        public static MxArray Bernoulli(MxArray? p = null, int[]? shape = null, MxArray? key = null, StreamOrDevice? stream = null)
        {
            using var placement = Place(stream);
            p ??= Array(0.5f);
            var outShape = shape ?? p.ShapeRef;
            var bits = Bits(outShape, 4, key);
            return Less(AsType(bits, DType.Float32), Multiply(AsType(p, DType.Float32), Array(4294967808f)));
        }

        public static MxArray TruncatedNormal(MxArray lower, MxArray upper, int[]? shape = null, DType dtype = DType.Float32, MxArray? key = null, StreamOrDevice? stream = null)
        {
            using var placement = Place(stream);
            var s = Array(Math.Sqrt(2.0), dtype);
            var a = Erf(Divide(AsType(lower, dtype), s));
            var b = Erf(Divide(AsType(upper, dtype), s));
            var outShape = shape ?? Shapes.Broadcast(lower.ShapeRef, upper.ShapeRef);
            var u = Uniform(a, b, outShape, dtype, key);
            var x = Multiply(s, Erfinv(u));
            return Maximum(Minimum(AsType(upper, dtype), x), AsType(lower, dtype));
        }

        public static MxArray Gumbel(int[] shape, DType dtype = DType.Float32, MxArray? key = null, StreamOrDevice? stream = null) =>
            Negative(Log(Negative(Log(Uniform(0.0, 1.0, shape, dtype, key)))), stream: stream);

        /// <summary>Samples class indices from unnormalized log-probabilities along <paramref name="axis"/> (Gumbel-max).</summary>
        public static MxArray Categorical(MxArray logits, int axis = -1, int[]? shape = null, int? numSamples = null, MxArray? key = null, StreamOrDevice? stream = null)
        {
            using var placement = Place(stream);
            int ax = Shapes.Axis(axis, logits.NDim);
            if (numSamples is { } k)
            {
                logits = ExpandDims(logits, -1);
                var s = logits.ShapeRef.Where((_, i) => i != ax).ToArray();
                s[^1] = k;
                shape = s;
            }
            shape ??= logits.ShapeRef.Where((_, i) => i != ax).ToArray();
            int offset = ax + shape.Length - logits.NDim + 1;
            var gshape = shape.Take(offset).Append(logits.ShapeRef[ax]).Concat(shape.Skip(offset)).ToArray();
            var g = Gumbel(gshape, DType.Float32, key);
            return ArgMax(Add(g, logits), offset);
        }

        public static MxArray Laplace(int[] shape, DType dtype = DType.Float32, double loc = 0.0, double scale = 1.0, MxArray? key = null, StreamOrDevice? stream = null)
        {
            using var placement = Place(stream);
            var u = Uniform(Array(Threefry.AboveMinusOne), Array(1f), shape, DType.Float32, key);
            var s = Multiply(Sign(u), Log1p(Negative(Abs(u))));
            s = AsType(s, dtype);
            if (scale != 1.0) s = Multiply(s, scale);
            if (loc != 0.0) s = Add(s, loc);
            return s;
        }

        /// <summary>A random permutation of 0..n-1 (uint32... int32 as MLX).</summary>
        public static MxArray Permutation(int n, MxArray? key = null, StreamOrDevice? stream = null) =>
            AsType(ArgSort(Bits(new[] { n }, 4, key)), DType.Int32, stream: stream);

        /// <summary><paramref name="x"/> shuffled along <paramref name="axis"/>.</summary>
        public static MxArray Permutation(MxArray x, int axis = 0, MxArray? key = null, StreamOrDevice? stream = null) =>
            Take(x, Permutation(x.ShapeRef[Shapes.Axis(axis, x.NDim)], key), axis, stream: stream);

        /// <summary>
        /// Samples from a multivariate normal with the given mean and covariance: mean + z L^T, where L is the
        /// Cholesky factor of <paramref name="cov"/> (which must be symmetric positive definite).
        /// </summary>
        public static MxArray MultivariateNormal(MxArray mean, MxArray cov, int[]? shape = null, DType dtype = DType.Float32, MxArray? key = null, StreamOrDevice? stream = null)
        {
            using var placement = Place(stream);
            int n = mean.ShapeRef[^1];
            if (cov.NDim != 2 || cov.ShapeRef[0] != n || cov.ShapeRef[1] != n) throw new ArgumentException("multivariate_normal: cov must be (n, n) for a mean of size n.");
            var c = cov.ToArray<double>();
            var l = new double[n * n];
            for (int i = 0; i < n; i++)
            {
                for (int j = 0; j <= i; j++)
                {
                    double sum = c[i * n + j];
                    for (int k = 0; k < j; k++) sum -= l[i * n + k] * l[j * n + k];
                    if (i == j)
                    {
                        if (sum <= 0) throw new ArgumentException("multivariate_normal: cov is not positive definite.");
                        l[i * n + i] = Math.Sqrt(sum);
                    }
                    else
                    {
                        l[i * n + j] = sum / l[j * n + j];
                    }
                }
            }
            var outShape = (shape ?? mean.ShapeRef[..^1]).Append(n).ToArray();
            var z = Normal(outShape, DType.Float32, 0.0, 1.0, key);
            var lt = Transpose(Array(l, new[] { n, n }, DType.Float32));
            return AsType(Add(Matmul(z, lt), AsType(mean, DType.Float32)), dtype);
        }
    }
}
