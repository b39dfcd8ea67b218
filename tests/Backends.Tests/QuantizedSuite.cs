namespace Mlx.Backends.Tests;

/// <summary>
/// Dequantize and the quantized product on one backend, against double loops over the codes read bit by bit:
/// every width (3, 5 and 6 bits cross word boundaries), both layouts, batched weights, float16 and bfloat16.
/// </summary>
public abstract class QuantizedSuite
{
    protected abstract Device Device { get; }

    private static int Code(uint[] words, long rowWords, long row, long j, int bits)
    {
        int c = 0;
        for (int t = 0; t < bits; t++)
        {
            long bit = j * bits + t;
            c |= (int)((words[row * rowWords + bit / 32] >> (int)(bit % 32)) & 1) << t;
        }
        return c;
    }

    // The dense weight (rows, cols) of a quantization, in double, from its codes, scales and biases.
    private static double[] Dense(MxArray q, MxArray s, MxArray b, int rows, int cols, int gs, int bits)
    {
        var words = q.ToArray<uint>();
        var sc = Mx.AsType(s, DType.Float64).ToArray<double>();
        var bi = Mx.AsType(b, DType.Float64).ToArray<double>();
        var w = new double[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++)
                w[r * cols + j] = sc[r * (cols / gs) + j / gs] * Code(words, cols * bits / 32, r, j, bits) + bi[r * (cols / gs) + j / gs];
        return w;
    }

    private void AssertOnDevice(MxArray r)
    {
        Mx.Eval(r);
        if (Device.Type == DeviceType.Gpu) Assert.IsType<DeviceBuffer>(r.Buffer);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(8)]
    public void DequantizeEveryWidth(int bits)
    {
        int rows = 3, cols = 64;
        var (q, s, b) = Mx.Quantize(Mx.Array(H.RandF(rows * cols, bits), new[] { rows, cols }), 32, bits);
        var r = Mx.Dequantize(q, s, b, 32, bits, stream: Device);
        AssertOnDevice(r);
        H.Close(Dense(q, s, b!, rows, cols, 32, bits), r, 1e-6, 1e-6);
    }

    public static IEnumerable<object[]> ProductCases() =>
        from bits in new[] { 3, 4, 8 } from t in new[] { true, false } from m in new[] { 1, 4, 5 } select new object[] { bits, t, m };

    [Theory]
    [MemberData(nameof(ProductCases))]
    public void QuantizedMatmulAgainstTheDenseProduct(int bits, bool transpose, int m)
    {
        int k = transpose ? 64 : 7, n = transpose ? 9 : 64;
        var (rows, cols) = transpose ? (n, k) : (k, n);
        var (q, s, b) = Mx.Quantize(Mx.Array(H.RandF(rows * cols, 10 + bits), new[] { rows, cols }), 32, bits);
        var w = Dense(q, s, b!, rows, cols, 32, bits);
        var x = H.Rand(m * k, 20 + m);
        var r = Mx.QuantizedMatmul(Mx.Array(x, new[] { m, k }, DType.Float32), q, s, b, transpose, 32, bits, stream: Device);
        AssertOnDevice(r);
        var expected = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                for (int p = 0; p < k; p++)
                    expected[i * n + j] += (double)(float)x[i * k + p] * (transpose ? w[j * k + p] : w[p * n + j]);
        H.Close(expected, r, 1e-5, 1e-5);
    }

    [Theory]
    [InlineData(QuantizationMode.Mxfp4)]
    [InlineData(QuantizationMode.Mxfp8)]
    [InlineData(QuantizationMode.Nvfp4)]
    public void FloatModes_DequantizeAndProducts(QuantizationMode mode)
    {
        var w = Mx.Array(H.RandF(9 * 64, 41, -5, 5), new[] { 9, 64 });
        var global = mode == QuantizationMode.Nvfp4 ? Mx.Array(5f) : null;
        var (q, s, _) = Mx.Quantize(w, mode: mode, globalScale: global);
        // The CPU decodes with its own (vectorized) decoder: both must give the same values.
        var dense = Mx.Dequantize(q, s, null, mode: mode, globalScale: global, dtype: DType.Float32, stream: Device);
        AssertOnDevice(dense);
        H.Close(Mx.Dequantize(q, s, null, mode: mode, globalScale: global, dtype: DType.Float32, stream: Device.Cpu).ToArray<float>(), dense, 1e-7, 1e-7);
        var (q2, s2, _) = Mx.Quantize(w, mode: mode);
        var d2 = Mx.Dequantize(q2, s2, null, mode: mode, dtype: DType.Float32, stream: Device.Cpu).ToArray<double>();
        foreach (int m in new[] { 1, 4, 6 })
        {
            var x = H.RandF(m * 64, 42 + m);
            var r = Mx.QuantizedMatmul(Mx.Array(x, new[] { m, 64 }), q2, s2, null, true, mode: mode, stream: Device);
            AssertOnDevice(r);
            var expected = new double[m * 9];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < 9; j++)
                    for (int p = 0; p < 64; p++)
                        expected[i * 9 + j] += (double)x[i * 64 + p] * d2[j * 64 + p];
            H.Close(expected, r, 1e-5, 1e-5);
        }
    }

    [Fact]
    public void EmptyProducts()
    {
        var (q, s, b) = Mx.Quantize(Mx.Zeros(new[] { 0, 64 }), 64, 4);
        var r = Mx.QuantizedMatmul(Mx.Ones(new[] { 2, 64 }), q, s, b, true, 64, 4, stream: Device);
        Assert.Equal(new[] { 2, 0 }, r.Shape);
        Mx.Eval(r);
        var (q2, s2, b2) = Mx.Quantize(Mx.Ones(new[] { 3, 64 }), 64, 4);
        var r2 = Mx.QuantizedMatmul(Mx.Ones(new[] { 0, 64 }), q2, s2, b2, true, 64, 4, stream: Device);
        Assert.Equal(new[] { 0, 3 }, r2.Shape);
        Mx.Eval(r2);
    }

    [Fact]
    public void BatchedWeights_VectorAndHalfInputs()
    {
        int k = 64, n = 5;
        var (q, s, b) = Mx.Quantize(Mx.Array(H.RandF(2 * n * k, 31), new[] { 2, n, k }), 64, 4);
        var x = Mx.Array(H.RandF(3 * 2 * 2 * k, 32), new[] { 3, 2, 2, k });
        var onDevice = Mx.QuantizedMatmul(x, q, s, b, true, 64, 4, stream: Device);
        AssertOnDevice(onDevice);
        var onCpu = Mx.QuantizedMatmul(x, q, s, b, true, 64, 4, stream: Device.Cpu);
        H.Close(onCpu.ToArray<float>(), onDevice, 1e-5, 1e-5);
        var v = Mx.Array(H.RandF(k, 33));
        var (q2, s2, b2) = Mx.Quantize(Mx.Array(H.RandF(n * k, 34), new[] { n, k }), 64, 8);
        H.Close(Mx.QuantizedMatmul(v, q2, s2, b2, true, 64, 8, stream: Device.Cpu).ToArray<float>(), Mx.QuantizedMatmul(v, q2, s2, b2, true, 64, 8, stream: Device), 1e-5, 1e-5);
        foreach (var t in new[] { DType.Float16, DType.BFloat16 })
        {
            var xh = Mx.AsType(Mx.Take(x, Mx.Array(0), 0), t);
            var (qh, sh, bh) = Mx.Quantize(Mx.AsType(Mx.Array(H.RandF(n * k, 35), new[] { n, k }), t), 64, 4);
            var r = Mx.QuantizedMatmul(xh, qh, sh, bh, true, 64, 4, stream: Device);
            AssertOnDevice(r);
            Assert.Equal(t, r.DType);
            var (rtol, atol) = H.Tol(t);
            H.Close(Mx.QuantizedMatmul(xh, qh, sh, bh, true, 64, 4, stream: Device.Cpu).ToArray<float>(), Mx.AsType(r, DType.Float32), rtol * 4, atol * 4);
        }
    }
}

public sealed class CpuQuantized : QuantizedSuite
{
    protected override Device Device => Device.Cpu;
}

public sealed class GpuQuantized : QuantizedSuite
{
    protected override Device Device => Backends.Gpu;
}
