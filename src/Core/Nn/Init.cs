namespace Mlx.Nn;

/// <summary>An initializer taking a gain (mlx.nn.init.glorot_normal / glorot_uniform).</summary>
public delegate MxArray GainInitializer(MxArray a, double gain = 1.0);

/// <summary>An initializer taking a fan mode ("fan_in" or "fan_out") and a gain (mlx.nn.init.he_normal / he_uniform).</summary>
public delegate MxArray FanInitializer(MxArray a, string mode = "fan_in", double gain = 1.0);

/// <summary>
/// The initializers of mlx.nn.init: each returns a function mapping an array to a new array of its shape
/// (the dtype is the initializer's, float32 by default, as MLX).
/// </summary>
public static class Init
{
    public static Func<MxArray, MxArray> Constant(double value, DType dtype = DType.Float32) =>
        a => Mx.Full(a.Shape, value, dtype);

    public static Func<MxArray, MxArray> Normal(double mean = 0.0, double std = 1.0, DType dtype = DType.Float32) =>
        a => Mx.Random.Normal(a.Shape, dtype, loc: mean, scale: std);

    public static Func<MxArray, MxArray> Uniform(double low = 0.0, double high = 1.0, DType dtype = DType.Float32) =>
        a => Mx.Random.Uniform(low, high, a.Shape, dtype);

    public static Func<MxArray, MxArray> Identity(DType dtype = DType.Float32) => a =>
    {
        if (a.NDim != 2 || a.ShapeRef[0] != a.ShapeRef[1])
        {
            throw new ArgumentException($"The input array must be a square matrix but got shape {MxArray.FormatShape(a.ShapeRef)}.");
        }
        return Mx.Eye(a.ShapeRef[0], dtype: dtype);
    };

    /// <summary>
    /// MLX's fan rule: fan_in = shape[-1], fan_out = shape[0], both times the receptive field (the product of the
    /// middle axes) for more than 2 dimensions.
    /// </summary>
    public static (int FanIn, int FanOut) FanInFanOut(MxArray x)
    {
        if (x.NDim < 2)
        {
            throw new ArgumentException($"Glorot / He initialization requires at least 2 dimensional input but input with {x.NDim} dimensions.");
        }
        var s = x.ShapeRef;
        int fanIn = s[^1], fanOut = s[0];
        if (x.NDim > 2)
        {
            int receptive = 1;
            for (int i = 1; i < s.Length - 1; i++) receptive *= s[i];
            fanIn *= receptive;
            fanOut *= receptive;
        }
        return (fanIn, fanOut);
    }

    public static GainInitializer GlorotNormal(DType dtype = DType.Float32) => (a, gain) =>
    {
        var (fanIn, fanOut) = FanInFanOut(a);
        double std = gain * Math.Sqrt(2.0 / (fanIn + fanOut));
        return Mx.Random.Normal(a.Shape, dtype, scale: std);
    };

    public static GainInitializer GlorotUniform(DType dtype = DType.Float32) => (a, gain) =>
    {
        var (fanIn, fanOut) = FanInFanOut(a);
        double limit = gain * Math.Sqrt(6.0 / (fanIn + fanOut));
        return Mx.Random.Uniform(-limit, limit, a.Shape, dtype);
    };

    public static FanInitializer HeNormal(DType dtype = DType.Float32) => (a, mode, gain) =>
    {
        double std = gain / Math.Sqrt(Fan(a, mode));
        return Mx.Random.Normal(a.Shape, dtype, scale: std);
    };

    public static FanInitializer HeUniform(DType dtype = DType.Float32) => (a, mode, gain) =>
    {
        double limit = gain * Math.Sqrt(3.0 / Fan(a, mode));
        return Mx.Random.Uniform(-limit, limit, a.Shape, dtype);
    };

    private static int Fan(MxArray a, string mode)
    {
        var (fanIn, fanOut) = FanInFanOut(a);
        return mode switch
        {
            "fan_in" => fanIn,
            "fan_out" => fanOut,
            _ => throw new ArgumentException($"Invalid mode: {mode}. Valid modes are: fan_in, fan_out"),
        };
    }

    /// <summary>
    /// N(mean, std) with ceil(sparsity * cols) entries of every row set to zero (the columns chosen at random
    /// independently per row); 2-D arrays only.
    /// </summary>
    public static Func<MxArray, MxArray> Sparse(double sparsity, double mean = 0.0, double std = 1.0, DType dtype = DType.Float32) => a =>
    {
        if (a.NDim != 2) throw new ArgumentException("Only tensors with 2 dimensions are supported");
        int rows = a.ShapeRef[0], cols = a.ShapeRef[1];
        int numZeros = (int)Math.Ceiling(sparsity * cols);
        var order = Mx.ArgSort(Mx.Random.Uniform(a.Shape), 1);
        var values = Mx.Random.Normal(a.Shape, dtype, loc: mean, scale: std);
        if (numZeros == 0) return values;
        numZeros = Math.Min(numZeros, cols);
        var zeroCols = Mx.Slice(order, new[] { 0, 0 }, new[] { rows, numZeros });
        return Mx.PutAlongAxis(values, zeroCols, Mx.Zeros(new[] { rows, numZeros }, dtype), 1);
    };

    /// <summary>
    /// A (semi-)orthogonal matrix: the Q of the QR decomposition of an n x n standard normal matrix
    /// (n = max(rows, cols)), its columns' signs fixed by the sign of R's diagonal, sliced to the shape and scaled by
    /// <paramref name="gain"/>. The QR runs on the host in double precision.
    /// </summary>
    public static Func<MxArray, MxArray> Orthogonal(double gain = 1.0, DType dtype = DType.Float32) => a =>
    {
        if (a.NDim != 2) throw new ArgumentException($"Orthogonal initialization requires a 2D array but got a {a.NDim}D array.");
        int rows = a.ShapeRef[0], cols = a.ShapeRef[1];
        int n = Math.Max(rows, cols);
        var m = Mx.AsType(Mx.Random.Normal(new[] { n, n }), DType.Float64).ToArray<double>();
        var q = HouseholderQ(m, n);
        var result = new double[rows * cols];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < cols; j++) result[i * cols + j] = q[i * n + j] * gain;
        }
        return Mx.AsType(Mx.Array(result, new[] { rows, cols }), dtype);
    };

    /// <summary>Q of A = QR (row-major n x n) by Householder reflections, with Q's columns multiplied by sign(R_jj).</summary>
    private static double[] HouseholderQ(double[] a, int n)
    {
        var r = (double[])a.Clone();
        var q = new double[n * n];
        for (int i = 0; i < n; i++) q[i * n + i] = 1;
        var v = new double[n];
        for (int k = 0; k < n - 1; k++)
        {
            double norm = 0;
            for (int i = k; i < n; i++) norm += r[i * n + k] * r[i * n + k];
            norm = Math.Sqrt(norm);
            if (norm == 0) continue;
            double alpha = r[k * n + k] > 0 ? -norm : norm;
            for (int i = 0; i < n; i++) v[i] = i < k ? 0 : r[i * n + k];
            v[k] -= alpha;
            double vv = 0;
            for (int i = k; i < n; i++) vv += v[i] * v[i];
            if (vv == 0) continue;
            // R = (I - 2 v v^T / vv) R
            for (int j = 0; j < n; j++)
            {
                double dot = 0;
                for (int i = k; i < n; i++) dot += v[i] * r[i * n + j];
                double f = 2 * dot / vv;
                for (int i = k; i < n; i++) r[i * n + j] -= f * v[i];
            }
            // Q = Q (I - 2 v v^T / vv)
            for (int i = 0; i < n; i++)
            {
                double dot = 0;
                for (int j = k; j < n; j++) dot += q[i * n + j] * v[j];
                double f = 2 * dot / vv;
                for (int j = k; j < n; j++) q[i * n + j] -= f * v[j];
            }
        }
        for (int j = 0; j < n; j++)
        {
            double s = Math.Sign(r[j * n + j]);
            for (int i = 0; i < n; i++) q[i * n + j] *= s;
        }
        return q;
    }
}
