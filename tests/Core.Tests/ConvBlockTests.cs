namespace Mlx.Core.Tests;

/// <summary>
/// Conv2d forward against a direct double loop: large enough to span both threads, and shaped to hit the implicit
/// GEMM's direct tiles, border and row-crossing gathered tiles, partial weight panels and the im2col fallback.
/// </summary>
public class ConvBlockTests
{
    [Theory]
    [InlineData(9, 23, 21, 8, 5, 3, 1, 1, 1)]     // runs of 24 channels: every tile gathered
    [InlineData(3, 40, 37, 33, 7, 3, 2, 1, 1)]    // odd channels, stride 2
    [InlineData(1, 13, 11, 37, 19, 3, 1, 1, 1)]   // batch 1, odd sizes, a partial weight panel
    [InlineData(2, 14, 13, 16, 32, 3, 1, 1, 1)]   // 16 channels into 32 (MNIST's second layer): one weight panel two vectors wide
    [InlineData(3, 9, 17, 40, 70, 3, 1, 2, 1)]    // padding 2, two weight panels (the second partial)
    [InlineData(3, 8, 10, 24, 16, 3, 1, 0, 1)]    // no padding
    [InlineData(2, 12, 14, 48, 20, 3, 1, 2, 2)]   // dilation 2: one run per kernel offset
    [InlineData(2, 11, 13, 35, 9, 3, 2, 2, 2)]    // stride 2 and dilation 2
    [InlineData(1, 6, 14, 64, 3, 5, 1, 2, 1)]     // 5x5 kernel: tiles whose first kernel rows are all padding
    [InlineData(1, 12, 12, 512, 8, 3, 1, 1, 1)]   // a packed weight panel past L2: the im2col fallback
    [InlineData(5, 28, 28, 1, 16, 3, 1, 1, 1)]    // small patches, direct: one input channel into 16 (MNIST's first layer)
    [InlineData(3, 17, 13, 3, 32, 3, 2, 1, 1)]    // small patches: RGB, stride 2, two output vectors
    [InlineData(2, 11, 9, 1, 64, 5, 1, 2, 1)]     // small patches: 5x5 taps, four output vectors, wide padding
    [InlineData(2, 12, 12, 2, 48, 3, 1, 2, 2)]    // small patches: dilation 2, three output vectors
    [InlineData(3, 13, 11, 1, 16, 3, 1, 1, 1)]    // small patches into 16, four positions at a time: 143 an image, groups across images, tails
    [InlineData(2, 9, 7, 3, 16, 3, 2, 1, 1)]      // small patches into 16: RGB, stride 2
    public void Conv2dMatchesDirectLoop(int n, int h, int wd, int cin, int cout, int k, int stride, int pad, int dil)
    {
        var xv = H.Rand(n * h * wd * cin, 81);
        var wv = H.Rand(cout * k * k * cin, 82);
        var x = Mx.Array(xv, new[] { n, h, wd, cin }, DType.Float32);
        var w = Mx.Array(wv, new[] { cout, k, k, cin }, DType.Float32);
        int span = dil * (k - 1) + 1;
        int oh = (h + 2 * pad - span) / stride + 1, ow = (wd + 2 * pad - span) / stride + 1;
        var expected = new double[n * oh * ow * cout];
        for (int b = 0; b < n; b++)
        for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++)
        for (int co = 0; co < cout; co++)
        {
            double s = 0;
            for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++)
            {
                int y = i * stride - pad + ki * dil, z = j * stride - pad + kj * dil;
                if (y < 0 || y >= h || z < 0 || z >= wd) continue;
                for (int ci = 0; ci < cin; ci++)
                {
                    s += (double)(float)xv[((b * h + y) * wd + z) * cin + ci] * (float)wv[((co * k + ki) * k + kj) * cin + ci];
                }
            }
            expected[((b * oh + i) * ow + j) * cout + co] = s;
        }
        H.Close(expected, Mx.Conv2d(x, w, stride, pad, dil), 1e-4, 1e-4);
    }

    [Theory]
    [InlineData(40, 12, 12, 8, 5, 1, 1, DType.Float32)]   // 12 images per thread's column chunk: 4 chunks
    [InlineData(40, 12, 12, 8, 5, 1, 1, DType.Float64)]   // 6 per chunk: 7 chunks, the last partial
    [InlineData(60, 28, 28, 1, 16, 1, 1, DType.Float32)]  // one input channel (the first layer of an image model): small patches, direct
    [InlineData(60, 28, 28, 1, 16, 1, 1, DType.Float64)]  // the same in float64: 9 images per chunk through the GEMM
    [InlineData(7, 9, 11, 3, 32, 2, 1, DType.Float32)]    // RGB into 32, stride 2: small patches, two output vectors
    [InlineData(45, 13, 11, 1, 16, 1, 1, DType.Float32)]  // into 16, four positions at a time: 143 an image (groups across images), two threads, tails
    [InlineData(6, 9, 7, 3, 16, 2, 1, DType.Float32)]     // RGB into 16, stride 2
    [InlineData(3, 12, 12, 8, 5, 1, 1, DType.Float32)]    // too few images to split: one GEMM per chunk, as before
    public void Conv2dGradientsOverImageChunksMatchDirectLoops(int n, int h, int wd, int cin, int cout, int stride, int pad, DType dtype)
    {
        const int k = 3;
        var xv = H.Rand(n * h * wd * cin, 91);
        var wv = H.Rand(cout * k * k * cin, 92);
        int oh = (h + 2 * pad - k) / stride + 1, ow = (wd + 2 * pad - k) / stride + 1;
        var gv = H.Rand(n * oh * ow * cout, 93);
        var x = Mx.Array(xv, new[] { n, h, wd, cin }, dtype);
        var w = Mx.Array(wv, new[] { cout, k, k, cin }, dtype);
        var g = Mx.Array(gv, new[] { n, oh, ow, cout }, dtype);
        var grads = Mx.Grad(a => Mx.Sum(Mx.Multiply(Mx.Conv2d(a[0], a[1], stride, pad), g)), new[] { 0, 1 })(new[] { x, w });
        // dL/dw[o,ki,kj,c] = sum over images and outputs of g * x at the tap; dL/dx gathers g back through the same taps.
        double X(double[] v, int b, int y, int z, int c) => v[((b * h + y) * wd + z) * cin + c];
        var dw = new double[wv.Length];
        var dx = new double[xv.Length];
        for (int b = 0; b < n; b++)
        for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++)
        for (int co = 0; co < cout; co++)
        {
            double gi = gv[((b * oh + i) * ow + j) * cout + co];
            for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++)
            {
                int y = i * stride - pad + ki, z = j * stride - pad + kj;
                if (y < 0 || y >= h || z < 0 || z >= wd) continue;
                for (int ci = 0; ci < cin; ci++)
                {
                    int wi = ((co * k + ki) * k + kj) * cin + ci;
                    dw[wi] += gi * X(xv, b, y, z, ci);
                    dx[((b * h + y) * wd + z) * cin + ci] += gi * wv[wi];
                }
            }
        }
        double tol = dtype == DType.Float64 ? 1e-10 : 2e-4;
        H.Close(dx, grads[0].AsType(DType.Float64).ToArray<double>(), tol, tol, "dx");
        H.Close(dw, grads[1].AsType(DType.Float64).ToArray<double>(), tol, tol * Math.Sqrt(n * oh * ow), "dw");
    }
}
