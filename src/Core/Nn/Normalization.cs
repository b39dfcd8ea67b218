namespace Mlx.Nn;

/// <summary>
/// Group normalization as mlx.nn.GroupNorm: features (last axis) split into <c>numGroups</c> groups, each
/// normalized over the spatial axes and its features. MLX's own grouping is strided (feature c is in group
/// c % numGroups); with <c>pytorchCompatible</c> the groups are contiguous (feature c in group c / (dims / numGroups)).
/// </summary>
public sealed class GroupNorm : Module
{
    private readonly int _numGroups, _dims;
    private readonly double _eps;
    private readonly bool _pytorchCompatible;

    public GroupNorm(int numGroups, int dims, double eps = 1e-5, bool affine = true, bool pytorchCompatible = false)
    {
        if (eps <= 0) throw new ArgumentException($"[GroupNorm] 'eps' must be positive but got {eps}.");
        if (numGroups <= 0) throw new ArgumentException($"The number of groups ({numGroups}) must be a positive integer.");
        if (dims <= 0) throw new ArgumentException($"The number of features ({dims}) must be a positive integer.");
        if (dims % numGroups != 0) throw new ArgumentException($"The number of features ({dims}) must be evenly divisible by the number of groups ({numGroups}).");
        (_numGroups, _dims, _eps, _pytorchCompatible) = (numGroups, dims, eps, pytorchCompatible);
        if (affine)
        {
            Param("bias", Mx.Zeros(new[] { dims }));
            Param("weight", Mx.Ones(new[] { dims }));
        }
    }

    public int NumGroups => _numGroups;

    public int Dims => _dims;

    public bool PytorchCompatible => _pytorchCompatible;

    public override MxArray Forward(MxArray x)
    {
        var shape = x.Shape;
        int batch = shape[0], dims = shape[^1];
        MxArray y;
        if (_pytorchCompatible)
        {
            int groupSize = dims / _numGroups;
            var g = Mx.Reshape(x, new[] { batch, -1, _numGroups, groupSize });
            g = Mx.Reshape(Mx.Transpose(g, new[] { 0, 2, 1, 3 }), new[] { batch, _numGroups, -1 });
            g = Normalize(g, -1);
            g = Mx.Reshape(g, new[] { batch, _numGroups, -1, groupSize });
            y = Mx.Reshape(Mx.Transpose(g, new[] { 0, 2, 1, 3 }), shape);
        }
        else
        {
            var g = Mx.Reshape(x, new[] { batch, -1, _numGroups });
            y = Mx.Reshape(Normalize(g, 1), shape);
        }
        return HasParam("weight") ? Mx.Add(Mx.Multiply(P("weight"), y), P("bias")) : y;
    }

    private MxArray Normalize(MxArray g, int axis)
    {
        var mean = Mx.Mean(g, axis, keepDims: true);
        var var = Mx.Var(g, axis, keepDims: true);
        return Mx.Multiply(Mx.Subtract(g, mean), Mx.Rsqrt(Mx.Add(var, _eps)));
    }
}

/// <summary>
/// Instance normalization as mlx.nn.InstanceNorm: input (N, ..., C), each (sample, channel) normalized over the
/// spatial axes; affine weight/bias (off by default).
/// </summary>
public sealed class InstanceNorm : Module
{
    private readonly double _eps;

    public InstanceNorm(int dims, double eps = 1e-5, bool affine = false)
    {
        if (eps <= 0) throw new ArgumentException($"[InstanceNorm] 'eps' must be positive but got {eps}.");
        _eps = eps;
        Dims = dims;
        if (affine)
        {
            Param("weight", Mx.Ones(new[] { dims }));
            Param("bias", Mx.Zeros(new[] { dims }));
        }
    }

    public int Dims { get; }

    public override MxArray Forward(MxArray x)
    {
        if (x.NDim < 3)
        {
            throw new ArgumentException($"InstanceNorm expects inputs with at least 3 dimensions (N, ..., C) but the input has {x.NDim} dimensions.");
        }
        var axes = Enumerable.Range(1, x.NDim - 2).ToArray();
        var mean = Mx.Mean(x, axes, keepDims: true);
        var var = Mx.Var(x, axes, keepDims: true);
        var y = Mx.Multiply(Mx.Subtract(x, mean), Mx.Rsqrt(Mx.Add(var, _eps)));
        return HasParam("weight") ? Mx.Add(Mx.Multiply(P("weight"), y), P("bias")) : y;
    }
}

/// <summary>
/// Batch normalization as mlx.nn.BatchNorm over inputs NC, NLC or NHWC: statistics over every axis but the last.
/// In training the batch statistics are used and the running statistics are updated
/// (running = (1 - momentum) * running + momentum * batch, the running variance from the unbiased batch
/// variance, as MLX); in eval mode the running statistics are used. <c>running_mean</c> and <c>running_var</c>
/// are parameters (so they are saved and loaded) but always frozen. Each training step chains the running statistics
/// onto the last ones lazily: evaluate <c>model.Parameters()</c> after a step (as with MLX's mx.eval(model.parameters())).
/// </summary>
public sealed class BatchNorm : Module
{
    private static readonly string[] s_stats = { "running_mean", "running_var" };
    private readonly double _eps, _momentum;
    private readonly bool _trackRunningStats;

    public BatchNorm(int numFeatures, double eps = 1e-5, double momentum = 0.1, bool affine = true, bool trackRunningStats = true)
    {
        if (eps <= 0) throw new ArgumentException($"[BatchNorm] 'eps' must be positive but got {eps}.");
        NumFeatures = numFeatures;
        (_eps, _momentum, _trackRunningStats) = (eps, momentum, trackRunningStats);
        if (affine)
        {
            Param("weight", Mx.Ones(new[] { numFeatures }));
            Param("bias", Mx.Zeros(new[] { numFeatures }));
        }
        if (trackRunningStats)
        {
            Param("running_mean", Mx.Zeros(new[] { numFeatures }));
            Param("running_var", Mx.Ones(new[] { numFeatures }));
            Freeze(s_stats, recurse: false);
        }
    }

    public int NumFeatures { get; }

    /// <summary>Unfreezes as Module.Unfreeze, but the running statistics stay frozen (as MLX).</summary>
    public override Module Unfreeze(IEnumerable<string>? keys = null, bool recurse = true)
    {
        base.Unfreeze(keys, recurse);
        if (_trackRunningStats) Freeze(s_stats, recurse: false);
        return this;
    }

    public override MxArray Forward(MxArray x)
    {
        if (x.NDim < 2 || x.NDim > 4) throw new ArgumentException($"Expected input tensor to have 2, 3 or 4 dimensions, but got {x.NDim}");
        var axes = Enumerable.Range(0, x.NDim - 1).ToArray();
        if (Training)
        {
            long statsSize = 1;
            foreach (var s in x.ShapeRef[..^1]) statsSize *= s;
            if (statsSize == 1) throw new ArgumentException("BatchNorm training requires more than one value per channel.");
        }
        var mean = Mx.Mean(x, axes);
        var var = Mx.Var(x, axes);
        if (Training && _trackRunningStats)
        {
            double mu = _momentum;
            var unbiased = Mx.StopGradient(Mx.Var(x, axes, ddof: 1));
            Param("running_mean", Mx.Add(Mx.Multiply(P("running_mean"), 1 - mu), Mx.Multiply(Mx.StopGradient(mean), mu)));
            Param("running_var", Mx.Add(Mx.Multiply(P("running_var"), 1 - mu), Mx.Multiply(unbiased, mu)));
        }
        else if (_trackRunningStats)
        {
            mean = P("running_mean");
            var = P("running_var");
        }
        var y = Mx.Multiply(Mx.Subtract(x, mean), Mx.Rsqrt(Mx.Add(var, _eps)));
        return HasParam("weight") ? Mx.Add(Mx.Multiply(P("weight"), y), P("bias")) : y;
    }
}
