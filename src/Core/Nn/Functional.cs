namespace Mlx.Nn;

/// <summary>Activations, losses and helpers of mlx.nn in functional form.</summary>
public static partial class Nn
{
    public static MxArray Relu(MxArray x) => Mx.Maximum(x, 0);
    public static MxArray Relu6(MxArray x) => Mx.Minimum(Relu(x), Mx.FullLike(x, 6));
    public static MxArray LeakyRelu(MxArray x, double negativeSlope = 0.01) => Mx.Maximum(x, Mx.Multiply(x, negativeSlope));
    public static MxArray Elu(MxArray x, double alpha = 1.0) => Mx.Where(Mx.Greater(x, Mx.ZerosLike(x)), x, Mx.Multiply(Mx.Expm1(x), alpha));
    public static MxArray Selu(MxArray x) => Mx.Multiply(Elu(x, 1.67326319217681884765625), 1.05070102214813232421875);
    public static MxArray Celu(MxArray x, double alpha = 1.0) => Mx.Add(Mx.Maximum(x, Mx.ZerosLike(x)), Mx.Multiply(Mx.Expm1(Mx.Divide(Mx.Minimum(x, Mx.ZerosLike(x)), alpha)), alpha));
    public static MxArray Sigmoid(MxArray x) => Mx.Sigmoid(x);
    public static MxArray Silu(MxArray x) => OnePass(Kernels.ActivationFn.Silu, x) ?? SiluCompiled(x);
    public static MxArray LogSigmoid(MxArray x) => Mx.Negative(Softplus(Mx.Negative(x)));
    public static MxArray Softplus(MxArray x) => Mx.LogAddExp(x, Mx.ZerosLike(x));
    public static MxArray Softsign(MxArray x) => Mx.Divide(x, Mx.Add(Mx.Abs(x), 1.0));
    public static MxArray Mish(MxArray x) => Mx.Multiply(x, Mx.Tanh(Softplus(x)));
    public static MxArray Tanh(MxArray x) => Mx.Tanh(x);
    // Off the CPU (or for other dtypes) the activations run compiled, as mlx.nn's do (shapeless compile): one fused
    // pass over memory instead of one per op; they stay differentiable.
    private static readonly Func<MxArray, MxArray> GeluCompiled = Compiled(Kernels.ActivationFn.Gelu);
    private static readonly Func<MxArray, MxArray> GeluApproxCompiled = Compiled(Kernels.ActivationFn.GeluApprox);
    private static readonly Func<MxArray, MxArray> GeluFastApproxCompiled = Compiled(Kernels.ActivationFn.GeluFastApprox);
    private static readonly Func<MxArray, MxArray> SiluCompiled = Compiled(Kernels.ActivationFn.Silu);

    private static Func<MxArray, MxArray> Compiled(Kernels.ActivationFn fn) => Mx.Compile(x => ActivationPrimitive.Composition(fn, x), shapeless: true);

    public static MxArray Gelu(MxArray x) => OnePass(Kernels.ActivationFn.Gelu, x) ?? GeluCompiled(x);
    public static MxArray GeluApprox(MxArray x) => OnePass(Kernels.ActivationFn.GeluApprox, x) ?? GeluApproxCompiled(x);
    public static MxArray GeluFastApprox(MxArray x) => OnePass(Kernels.ActivationFn.GeluFastApprox, x) ?? GeluFastApproxCompiled(x);

    // On the CPU, floating inputs take the one-pass kernel (every intermediate in registers); the compiled
    // composition serves other dtypes and the GPU.
    private static MxArray? OnePass(Kernels.ActivationFn fn, MxArray x) =>
        x.DType.IsFloating() && Mx.PlacedOnCpu ? MxArray.Create(x.ShapeRef, x.DType, new ActivationPrimitive(fn), x) : null;
    public static MxArray HardSwish(MxArray x) => Mx.Multiply(x, Mx.Divide(Relu6(Mx.Add(x, 3.0)), 6.0));
    public static MxArray HardTanh(MxArray x, double minVal = -1, double maxVal = 1) => Mx.Clip(x, Mx.Array(minVal, x.DType), Mx.Array(maxVal, x.DType));
    public static MxArray Softmin(MxArray x, int axis = -1) => Mx.Softmax(Mx.Negative(x), axis);
    public static MxArray LogSoftmax(MxArray x, int axis = -1)
    {
        if (x.DType.IsFloating() && x.NDim > 0 && Mx.PlacedOnCpu)
        {
            // One kernel: (x - max) - log(sum(exp(x - max))), the shift by the max first as MLX's composition does.
            return MxArray.Create(x.ShapeRef, x.DType, new SoftmaxPrimitive(Shapes.Axis(axis, x.NDim), log: true), x);
        }
        x = Mx.Subtract(x, Mx.StopGradient(Mx.Max(x, axis, keepDims: true)));
        return Mx.Subtract(x, Mx.Logsumexp(x, axis, keepDims: true));
    }
    public static MxArray Glu(MxArray x, int axis = -1)
    {
        var parts = Mx.Split(x, 2, axis);
        return Mx.Multiply(parts[0], Mx.Sigmoid(parts[1]));
    }
    /// <summary>where(x >= threshold, 1, 0), int32 (as MLX: the boundary is included).</summary>
    public static MxArray Step(MxArray x, double threshold = 0) => Mx.Where(Mx.GreaterEqual(x, Mx.FullLike(x, threshold)), 1, 0);
    public static MxArray Prelu(MxArray x, MxArray alpha) => Mx.Add(Mx.Maximum(x, Mx.ZerosLike(x)), Mx.Multiply(alpha, Mx.Minimum(x, Mx.ZerosLike(x))));
    public static MxArray HardShrink(MxArray x, double lambda = 0.5) => Mx.Where(Mx.Greater(Mx.Abs(x), Mx.FullLike(x, lambda)), x, Mx.ZerosLike(x));
    public static MxArray SoftShrink(MxArray x, double lambda = 0.5) =>
        Mx.Where(Mx.Greater(Mx.Abs(x), Mx.FullLike(x, lambda)), Mx.Subtract(x, Mx.Multiply(Mx.Sign(x), lambda)), Mx.ZerosLike(x));

    private static MxArray Reduce(MxArray loss, string reduction) => reduction switch
    {
        "none" => loss,
        "mean" => Mx.Mean(loss),
        "sum" => Mx.Sum(loss),
        _ => throw new ArgumentException($"reduction must be 'none', 'mean' or 'sum', not '{reduction}'."),
    };

    /// <summary>Cross entropy of logits and integer class targets (or probabilities of the same shape as logits).</summary>
    public static MxArray CrossEntropy(MxArray logits, MxArray targets, MxArray? weights = null, int axis = -1, double labelSmoothing = 0, string reduction = "none")
    {
        var lse = Mx.Logsumexp(logits, axis);
        MxArray loss;
        if (targets.DType.IsInteger())
        {
            var picked = Mx.Squeeze(Mx.TakeAlongAxis(logits, Mx.ExpandDims(targets, axis), axis), axis);
            loss = Mx.Subtract(lse, picked);
            if (labelSmoothing > 0)
            {
                var meanLogit = Mx.Mean(logits, axis);
                loss = Mx.Add(Mx.Multiply(loss, 1 - labelSmoothing), Mx.Multiply(Mx.Subtract(lse, meanLogit), labelSmoothing));
            }
        }
        else
        {
            loss = Mx.Subtract(lse, Mx.Sum(Mx.Multiply(logits, targets), axis));
        }
        if (weights is not null) loss = Mx.Multiply(loss, weights);
        return Reduce(loss, reduction);
    }

    public static MxArray BinaryCrossEntropy(MxArray inputs, MxArray targets, bool withLogits = true, string reduction = "mean")
    {
        MxArray loss = withLogits
            ? Mx.Subtract(Softplus(inputs), Mx.Multiply(inputs, targets))
            : Mx.Negative(Mx.Add(Mx.Multiply(targets, Mx.Log(Mx.Maximum(inputs, Mx.FullLike(inputs, 1e-12)))),
                Mx.Multiply(Mx.Subtract(1.0, targets), Mx.Log(Mx.Maximum(Mx.Subtract(1.0, inputs), Mx.FullLike(inputs, 1e-12))))));
        return Reduce(loss, reduction);
    }

    public static MxArray MseLoss(MxArray predictions, MxArray targets, string reduction = "mean") => Reduce(Mx.Square(Mx.Subtract(predictions, targets)), reduction);

    public static MxArray L1Loss(MxArray predictions, MxArray targets, string reduction = "mean") => Reduce(Mx.Abs(Mx.Subtract(predictions, targets)), reduction);

    public static MxArray NllLoss(MxArray inputs, MxArray targets, int axis = -1, string reduction = "none") =>
        Reduce(Mx.Negative(Mx.Squeeze(Mx.TakeAlongAxis(inputs, Mx.ExpandDims(targets, axis), axis), axis)), reduction);

    public static MxArray SmoothL1Loss(MxArray predictions, MxArray targets, double beta = 1.0, string reduction = "mean")
    {
        var diff = Mx.Abs(Mx.Subtract(predictions, targets));
        var loss = Mx.Where(Mx.Less(diff, Mx.FullLike(diff, beta)), Mx.Divide(Mx.Multiply(Mx.Square(diff), 0.5), beta), Mx.Subtract(diff, 0.5 * beta));
        return Reduce(loss, reduction);
    }

    public static MxArray HuberLoss(MxArray inputs, MxArray targets, double delta = 1.0, string reduction = "none")
    {
        var diff = Mx.Abs(Mx.Subtract(inputs, targets));
        var loss = Mx.Where(Mx.LessEqual(diff, Mx.FullLike(diff, delta)), Mx.Multiply(Mx.Square(diff), 0.5), Mx.Multiply(Mx.Subtract(diff, 0.5 * delta), delta));
        return Reduce(loss, reduction);
    }

    public static MxArray KlDivLoss(MxArray inputs, MxArray targets, int axis = -1, string reduction = "none") =>
        Reduce(Mx.Sum(Mx.Multiply(Mx.Exp(targets), Mx.Subtract(targets, inputs)), axis), reduction);

    public static MxArray LogCoshLoss(MxArray inputs, MxArray targets, string reduction = "none")
    {
        var d = Mx.Subtract(inputs, targets);
        return Reduce(Mx.Subtract(Mx.LogAddExp(d, Mx.Negative(d)), Math.Log(2)), reduction);
    }

    public static MxArray HingeLoss(MxArray inputs, MxArray targets, string reduction = "none") =>
        Reduce(Mx.Maximum(Mx.Subtract(1.0, Mx.Multiply(inputs, targets)), Mx.ZerosLike(inputs)), reduction);

    public static MxArray GaussianNllLoss(MxArray inputs, MxArray targets, MxArray vars, bool full = false, double eps = 1e-6, string reduction = "mean")
    {
        var v = Mx.Maximum(vars, Mx.FullLike(vars, eps));
        var loss = Mx.Multiply(Mx.Add(Mx.Log(v), Mx.Divide(Mx.Square(Mx.Subtract(targets, inputs)), v)), 0.5);
        if (full) loss = Mx.Add(loss, 0.5 * Math.Log(2 * Math.PI));
        return Reduce(loss, reduction);
    }

    public static MxArray CosineSimilarityLoss(MxArray x1, MxArray x2, int axis = 1, double eps = 1e-8, string reduction = "none")
    {
        var num = Mx.Sum(Mx.Multiply(x1, x2), axis);
        var den = Mx.Maximum(Mx.Multiply(Mx.Sqrt(Mx.Sum(Mx.Square(x1), axis)), Mx.Sqrt(Mx.Sum(Mx.Square(x2), axis))), Mx.FullLike(num, eps));
        return Reduce(Mx.Divide(num, den), reduction);
    }

    public static MxArray MarginRankingLoss(MxArray inputs1, MxArray inputs2, MxArray targets, double margin = 0, string reduction = "none") =>
        Reduce(Mx.Maximum(Mx.Add(Mx.Negative(Mx.Multiply(targets, Mx.Subtract(inputs1, inputs2))), margin), Mx.ZerosLike(inputs1)), reduction);

    public static MxArray TripletLoss(MxArray anchors, MxArray positives, MxArray negatives, int axis = -1, double p = 2, double margin = 1.0, double eps = 1e-6, string reduction = "none")
    {
        MxArray Dist(MxArray a, MxArray b) => Mx.Power(Mx.Add(Mx.Sum(Mx.Power(Mx.Abs(Mx.Subtract(a, b)), p), axis), eps), 1 / p);
        return Reduce(Mx.Maximum(Mx.Add(Mx.Subtract(Dist(anchors, positives), Dist(anchors, negatives)), margin), Mx.ZerosLike(Dist(anchors, positives))), reduction);
    }
}
