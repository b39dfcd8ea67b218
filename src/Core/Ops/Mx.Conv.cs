namespace Mlx;

public static partial class Mx
{
    /// <summary>
    /// N-d convolution, channels last as MLX: input (N, *spatial, C_in), weight (C_out, *kernel, C_in / groups).
    /// Built from differentiable pieces (pad, strided slices, one matmul per group), so its gradients come from
    /// theirs. Padding is (low, high) per spatial axis; kernel dilation and input dilation as in MLX's conv_general.
    /// </summary>
    public static MxArray ConvGeneral(MxArray input, MxArray weight, int[]? stride = null, (int Low, int High)[]? padding = null,
        int[]? kernelDilation = null, int[]? inputDilation = null, int groups = 1, bool flip = false, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        int d = input.NDim - 2;
        if (d < 1 || weight.NDim != d + 2) throw new ArgumentException($"conv: input of {input.NDim} dims needs a weight of {input.NDim} dims, got {weight.NDim}.");
        stride ??= Enumerable.Repeat(1, d).ToArray();
        padding ??= Enumerable.Repeat((0, 0), d).ToArray();
        kernelDilation ??= Enumerable.Repeat(1, d).ToArray();
        inputDilation ??= Enumerable.Repeat(1, d).ToArray();
        int cin = input.ShapeRef[^1], cout = weight.ShapeRef[0];
        if (groups < 1 || cin % groups != 0 || cout % groups != 0 || weight.ShapeRef[^1] * groups != cin)
        {
            throw new ArgumentException($"conv: {cin} input channels, weight {MxArray.FormatShape(weight.ShapeRef)} and groups={groups} do not fit.");
        }
        var dt = DTypes.Promote(input.DType, weight.DType);
        var x = AsType(input, dt);
        var w = AsType(weight, dt);
        if (flip)
        {
            for (int i = 0; i < d; i++) w = FlipAxis(w, 1 + i);
        }
        var kernel = weight.ShapeRef[1..^1];
        // The common case runs on the dedicated primitive: symmetric padding, no groups, no input dilation.
        if (groups == 1 && !flip && inputDilation.All(v => v == 1) && padding.All(p => p.Low == p.High && p.Low >= 0) && dt is DType.Float32 or DType.Float64 or DType.Float16 or DType.BFloat16)
        {
            var geometry = new Mlx.Kernels.ConvGeometry(input.ShapeRef[0], input.ShapeRef[1..^1], cin, kernel, stride, padding.Select(p => p.Low).ToArray(), kernelDilation);
            var outShape = new[] { input.ShapeRef[0] }.Concat(geometry.Output).Append(cout).ToArray();
            return MxArray.Create(outShape, dt, new ConvPrimitive(stride, padding.Select(p => p.Low).ToArray(), kernelDilation), AsType(input, dt), w);
        }
        // Input dilation: spread the input with zeros (transposed convolution).
        if (inputDilation.Any(v => v != 1))
        {
            var shape = (int[])x.ShapeRef.Clone();
            for (int i = 0; i < d; i++) shape[1 + i] = shape[1 + i] == 0 ? 0 : (shape[1 + i] - 1) * inputDilation[i] + 1;
            var start = new int[x.NDim];
            var step = Enumerable.Repeat(1, x.NDim).ToArray();
            for (int i = 0; i < d; i++) step[1 + i] = inputDilation[i];
            x = SliceUpdateRaw(Zeros(shape, dt), x, start, shape, step);
        }
        var pads = new (int, int)[x.NDim];
        for (int i = 0; i < d; i++) pads[1 + i] = padding[i];
        if (pads.Any(p => p.Item1 != 0 || p.Item2 != 0))
        {
            if (pads.Any(p => p.Item1 < 0 || p.Item2 < 0)) x = CropNegative(x, pads);
            var positive = pads.Select(p => (Math.Max(p.Item1, 0), Math.Max(p.Item2, 0))).ToArray();
            if (positive.Any(p => p.Item1 != 0 || p.Item2 != 0)) x = Pad(x, positive);
        }
        var outSpatial = new int[d];
        kernel = weight.ShapeRef[1..^1];
        for (int i = 0; i < d; i++)
        {
            int span = kernelDilation[i] * (kernel[i] - 1) + 1;
            outSpatial[i] = x.ShapeRef[1 + i] < span ? 0 : (x.ShapeRef[1 + i] - span) / stride[i] + 1;
        }
        int n = x.ShapeRef[0];
        // One strided slice per kernel offset, stacked: (N, *out, K, C_in) — im2col without copies until the stack.
        var offsets = Enumerable.Range(0, kernel.Aggregate(1, (a, b) => a * b)).ToArray();
        var patches = new List<MxArray>(offsets.Length);
        foreach (int flat in offsets)
        {
            var k = new int[d];
            for (int i = d - 1, r = flat; i >= 0; i--)
            {
                k[i] = r % kernel[i];
                r /= kernel[i];
            }
            var start = new int[x.NDim];
            var stop = (int[])x.ShapeRef.Clone();
            var step = Enumerable.Repeat(1, x.NDim).ToArray();
            for (int i = 0; i < d; i++)
            {
                start[1 + i] = k[i] * kernelDilation[i];
                stop[1 + i] = outSpatial[i] == 0 ? start[1 + i] : start[1 + i] + stride[i] * (outSpatial[i] - 1) + 1;
                step[1 + i] = stride[i];
            }
            patches.Add(SliceRaw(x, start, stop, step));
        }
        var cols = Stack(patches.ToArray(), d + 1);
        int kk = offsets.Length;
        int cg = cin / groups, og = cout / groups;
        long rows = (long)n * outSpatial.Aggregate(1L, (a, b) => a * b);
        var results = new MxArray[groups];
        for (int g = 0; g < groups; g++)
        {
            var cg0 = groups == 1 ? cols : SliceChannels(cols, g * cg, (g + 1) * cg);
            var a = Reshape(cg0, new[] { checked((int)rows), kk * cg });
            var wg = groups == 1 ? w : SliceRows(w, g * og, (g + 1) * og);
            var b = Reshape(wg, new[] { og, kk * cg });
            results[g] = Matmul(a, Transpose(b));
        }
        var outMat = groups == 1 ? results[0] : Concatenate(results, 1);
        return Reshape(outMat, new[] { n }.Concat(outSpatial).Append(cout).ToArray());
    }

    private static MxArray SliceChannels(MxArray x, int from, int to)
    {
        var start = new int[x.NDim];
        var stop = (int[])x.ShapeRef.Clone();
        start[^1] = from;
        stop[^1] = to;
        return SliceRaw(x, start, stop, Enumerable.Repeat(1, x.NDim).ToArray());
    }

    private static MxArray SliceRows(MxArray x, int from, int to)
    {
        var start = new int[x.NDim];
        var stop = (int[])x.ShapeRef.Clone();
        start[0] = from;
        stop[0] = to;
        return SliceRaw(x, start, stop, Enumerable.Repeat(1, x.NDim).ToArray());
    }

    private static MxArray CropNegative(MxArray x, (int, int)[] pads)
    {
        var start = new int[x.NDim];
        var stop = (int[])x.ShapeRef.Clone();
        for (int i = 0; i < x.NDim; i++)
        {
            if (pads[i].Item1 < 0) start[i] = -pads[i].Item1;
            if (pads[i].Item2 < 0) stop[i] = x.ShapeRef[i] + pads[i].Item2;
        }
        return SliceRaw(x, start, stop, Enumerable.Repeat(1, x.NDim).ToArray());
    }

    private static MxArray FlipAxis(MxArray x, int axis)
    {
        var start = new int[x.NDim];
        var stop = (int[])x.ShapeRef.Clone();
        var step = Enumerable.Repeat(1, x.NDim).ToArray();
        start[axis] = x.ShapeRef[axis] - 1;
        stop[axis] = -1;
        step[axis] = -1;
        return SliceRaw(x, start, stop, step);
    }

    public static MxArray Conv1d(MxArray input, MxArray weight, int stride = 1, int padding = 0, int dilation = 1, int groups = 1, StreamOrDevice? stream = null) =>
        ConvGeneral(input, weight, new[] { stride }, new[] { (padding, padding) }, new[] { dilation }, null, groups, stream: stream);

    public static MxArray Conv2d(MxArray input, MxArray weight, (int, int)? stride = null, (int, int)? padding = null, (int, int)? dilation = null, int groups = 1, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        var s = stride ?? (1, 1);
        var p = padding ?? (0, 0);
        var dl = dilation ?? (1, 1);
        return ConvGeneral(input, weight, new[] { s.Item1, s.Item2 }, new[] { (p.Item1, p.Item1), (p.Item2, p.Item2) }, new[] { dl.Item1, dl.Item2 }, null, groups);
    }

    public static MxArray Conv2d(MxArray input, MxArray weight, int stride, int padding = 0, int dilation = 1, int groups = 1, StreamOrDevice? stream = null) =>
        Conv2d(input, weight, (stride, stride), (padding, padding), (dilation, dilation), groups, stream: stream);

    public static MxArray Conv3d(MxArray input, MxArray weight, int stride = 1, int padding = 0, int dilation = 1, int groups = 1, StreamOrDevice? stream = null) =>
        ConvGeneral(input, weight, new[] { stride, stride, stride }, Enumerable.Repeat((padding, padding), 3).ToArray(), new[] { dilation, dilation, dilation }, null, groups, stream: stream);

    /// <summary>
    /// Transposed convolution (the gradient of a convolution with respect to its input): the input is dilated by
    /// the stride, padded by dilation*(k-1)-padding, and convolved with the spatially flipped kernel. Weight shape
    /// (C_out, *kernel, C_in) as MLX.
    /// </summary>
    public static MxArray ConvTransposeGeneral(MxArray input, MxArray weight, int[] stride, int[] padding, int[] dilation, int[] outputPadding, int groups = 1, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        int d = input.NDim - 2;
        var kernel = weight.ShapeRef[1..^1];
        var pads = new (int, int)[d];
        for (int i = 0; i < d; i++)
        {
            int full = dilation[i] * (kernel[i] - 1) - padding[i];
            pads[i] = (full, full + outputPadding[i]);
        }
        return ConvGeneral(input, weight, Enumerable.Repeat(1, d).ToArray(), pads, dilation, stride, groups, flip: true);
    }

    public static MxArray ConvTranspose1d(MxArray input, MxArray weight, int stride = 1, int padding = 0, int dilation = 1, int outputPadding = 0, int groups = 1, StreamOrDevice? stream = null) =>
        ConvTransposeGeneral(input, weight, new[] { stride }, new[] { padding }, new[] { dilation }, new[] { outputPadding }, groups, stream: stream);

    public static MxArray ConvTranspose2d(MxArray input, MxArray weight, int stride = 1, int padding = 0, int dilation = 1, int outputPadding = 0, int groups = 1, StreamOrDevice? stream = null) =>
        ConvTransposeGeneral(input, weight, new[] { stride, stride }, new[] { padding, padding }, new[] { dilation, dilation }, new[] { outputPadding, outputPadding }, groups, stream: stream);

    public static MxArray ConvTranspose3d(MxArray input, MxArray weight, int stride = 1, int padding = 0, int dilation = 1, int outputPadding = 0, int groups = 1, StreamOrDevice? stream = null) =>
        ConvTransposeGeneral(input, weight, Enumerable.Repeat(stride, 3).ToArray(), Enumerable.Repeat(padding, 3).ToArray(), Enumerable.Repeat(dilation, 3).ToArray(), Enumerable.Repeat(outputPadding, 3).ToArray(), groups, stream: stream);
}
