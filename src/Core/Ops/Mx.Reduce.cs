namespace Mlx;

public static partial class Mx
{
    private static MxArray Reduce(ReduceOp op, MxArray a, int[]? axes, bool keepDims, DType outType, string name)
    {
        var ax = Shapes.Axes(axes, a.NDim);
        if (op is ReduceOp.Max or ReduceOp.Min)
        {
            foreach (int i in ax)
            {
                if (a.ShapeRef[i] == 0)
                {
                    throw new ArgumentException($"{name} of an empty array (axis {i} has size 0) has no identity.");
                }
            }
        }
        var kept = (int[])a.ShapeRef.Clone();
        foreach (int i in ax) kept[i] = 1;
        var r = ax.Length == 0 && a.DType == outType ? a : MxArray.Create(kept, outType, new ReducePrimitive(op, ax.OrderBy(i => i).ToArray()), a);
        if (keepDims || ReferenceEquals(r, a))
        {
            return keepDims ? r : Reshape(r, a.ShapeRef.Where((_, i) => !ax.Contains(i)).ToArray());
        }
        // The reduction's own result is read only by the reshape: disposing the reshaped array frees the data.
        var reshaped = Reshape(r, a.ShapeRef.Where((_, i) => !ax.Contains(i)).ToArray());
        if (!ReferenceEquals(reshaped, r)) r.Dispose();
        return reshaped;
    }

    /// <summary>MLX's sum dtype: bool, int8 and int16 sum to int32; uint8 and uint16 to uint32.</summary>
    private static DType SumType(DType t) => t switch
    {
        DType.Bool or DType.Int8 or DType.Int16 => DType.Int32,
        DType.UInt8 or DType.UInt16 => DType.UInt32,
        _ => t,
    };

    public static MxArray Sum(MxArray a, int[]? axes = null, bool keepDims = false, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        return a.DType == DType.Complex64 ? ComplexSum(a, axes, keepDims) : Reduce(ReduceOp.Sum, a, axes, keepDims, SumType(a.DType), "sum");
    }

    // complex64 sums as its (real, imag) float32 pairs: a trailing axis of 2 that is never reduced.
    private static MxArray ComplexSum(MxArray a, int[]? axes, bool keepDims)
    {
        var ax = Shapes.Axes(axes, a.NDim);
        var pairs = Reshape(View(Reshape(a, a.ShapeRef.Append(1).ToArray()), DType.Float32), a.ShapeRef.Append(2).ToArray());
        var sum = Reduce(ReduceOp.Sum, pairs, ax, keepDims: true, DType.Float32, "sum");
        var kept = (int[])a.ShapeRef.Clone();
        foreach (int i in ax) kept[i] = 1;
        var c = Reshape(View(sum, DType.Complex64), kept);
        return keepDims ? c : Reshape(c, a.ShapeRef.Where((_, i) => !ax.Contains(i)).ToArray());
    }
    public static MxArray Sum(MxArray a, int axis, bool keepDims = false, StreamOrDevice? stream = null) => Sum(a, new[] { axis }, keepDims, stream);
    public static MxArray Prod(MxArray a, int[]? axes = null, bool keepDims = false, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        return Reduce(ReduceOp.Prod, a, axes, keepDims, SumType(a.DType), "prod");
    }
    public static MxArray Prod(MxArray a, int axis, bool keepDims = false, StreamOrDevice? stream = null) => Prod(a, new[] { axis }, keepDims, stream);
    public static MxArray Max(MxArray a, int[]? axes = null, bool keepDims = false, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        return Reduce(ReduceOp.Max, a, axes, keepDims, a.DType, "max");
    }
    public static MxArray Max(MxArray a, int axis, bool keepDims = false, StreamOrDevice? stream = null) => Max(a, new[] { axis }, keepDims, stream);
    public static MxArray Min(MxArray a, int[]? axes = null, bool keepDims = false, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        return Reduce(ReduceOp.Min, a, axes, keepDims, a.DType, "min");
    }
    public static MxArray Min(MxArray a, int axis, bool keepDims = false, StreamOrDevice? stream = null) => Min(a, new[] { axis }, keepDims, stream);
    public static MxArray All(MxArray a, int[]? axes = null, bool keepDims = false, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        return Reduce(ReduceOp.And, a, axes, keepDims, DType.Bool, "all");
    }
    public static MxArray All(MxArray a, int axis, bool keepDims = false, StreamOrDevice? stream = null) => All(a, new[] { axis }, keepDims, stream);
    public static MxArray Any(MxArray a, int[]? axes = null, bool keepDims = false, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        return Reduce(ReduceOp.Or, a, axes, keepDims, DType.Bool, "any");
    }
    public static MxArray Any(MxArray a, int axis, bool keepDims = false, StreamOrDevice? stream = null) => Any(a, new[] { axis }, keepDims, stream);

    private static long ReducedCount(MxArray a, int[]? axes) => Shapes.Axes(axes, a.NDim).Aggregate(1L, (n, i) => n * a.ShapeRef[i]);

    /// <summary>Mean; integer input gives float32, as MLX.</summary>
    public static MxArray Mean(MxArray a, int[]? axes = null, bool keepDims = false, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        var x = a.DType.IsInexact() ? a : AsType(a, DType.Float32);
        var sum = Sum(x, axes, keepDims);
        var mean = Divide(sum, (double)ReducedCount(a, axes));
        // Read only by the division: disposing the mean frees them.
        // (Sum returns its operand when there is nothing to reduce: never dispose the caller's array.)
        if (!ReferenceEquals(sum, mean) && !ReferenceEquals(sum, a)) sum.Dispose();
        if (!ReferenceEquals(x, a) && !ReferenceEquals(x, mean)) x.Dispose();
        return mean;
    }

    public static MxArray Mean(MxArray a, int axis, bool keepDims = false, StreamOrDevice? stream = null) => Mean(a, new[] { axis }, keepDims, stream);

    public static MxArray Var(MxArray a, int[]? axes = null, bool keepDims = false, int ddof = 0, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        var x = a.DType.IsInexact() ? a : AsType(a, DType.Float32);
        var mu = Mean(x, axes, keepDims: true);
        var sq = Sum(Square(Subtract(x, mu)), axes, keepDims);
        return Divide(sq, (double)Math.Max(ReducedCount(a, axes) - ddof, 0));
    }

    public static MxArray Var(MxArray a, int axis, bool keepDims = false, int ddof = 0, StreamOrDevice? stream = null) => Var(a, new[] { axis }, keepDims, ddof, stream);

    public static MxArray Std(MxArray a, int[]? axes = null, bool keepDims = false, int ddof = 0, StreamOrDevice? stream = null) => Sqrt(Var(a, axes, keepDims, ddof, stream));

    public static MxArray Std(MxArray a, int axis, bool keepDims = false, int ddof = 0, StreamOrDevice? stream = null) => Std(a, new[] { axis }, keepDims, ddof, stream);

    /// <summary>log(sum(exp(a))) computed stably; empty reductions throw, as MLX.</summary>
    public static MxArray Logsumexp(MxArray a, int[]? axes = null, bool keepDims = false, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        var x = a.DType.IsInexact() ? a : AsType(a, DType.Float32);
        var single = Shapes.Axes(axes, a.NDim);
        if (single.Length == 1 && x.DType.IsFloating() && a.ShapeRef[single[0]] > 0 && PlacedOnCpu)
        {
            var shape = (int[])x.ShapeRef.Clone();
            shape[single[0]] = 1;
            var lse = MxArray.Create(shape, x.DType, new LogSumExpPrimitive(single[0]), x);
            return keepDims ? lse : Squeeze(lse, single);
        }
        var m = StopGradient(Max(x, axes, keepDims: true));
        // An all -inf (or inf) slice would give inf - inf: shift by 0 there instead.
        var safe = Where(IsInf(m), ZerosLike(m), m);
        var r = Add(Log(Sum(Exp(Subtract(x, safe)), axes, keepDims: true)), safe);
        return keepDims ? r : Squeeze(r, Shapes.Axes(axes, a.NDim));
    }

    public static MxArray Logsumexp(MxArray a, int axis, bool keepDims = false, StreamOrDevice? stream = null) => Logsumexp(a, new[] { axis }, keepDims, stream);

    /// <summary>Softmax over <paramref name="axes"/> (all axes when null), computed stably.</summary>
    public static MxArray Softmax(MxArray a, int[]? axes = null, bool precise = false, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        var x = a.DType.IsInexact() ? a : AsType(a, DType.Float32);
        var ax = Shapes.Axes(axes, a.NDim);
        if (ax.Length == 1 && x.DType is DType.Float32 or DType.Float64 or DType.Float16 or DType.BFloat16)
        {
            return MxArray.Create(x.ShapeRef, x.DType, new SoftmaxPrimitive(ax[0]), x);
        }
        var m = StopGradient(Max(x, axes, keepDims: true));
        var e = Exp(Subtract(x, m));
        return Divide(e, Sum(e, axes, keepDims: true));
    }

    public static MxArray Softmax(MxArray a, int axis, bool precise = false, StreamOrDevice? stream = null) => Softmax(a, new[] { axis }, precise, stream);

    public static MxArray ArgMax(MxArray a, int? axis = null, bool keepDims = false, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        return ArgReduce(a, axis, keepDims, true);
    }

    public static MxArray ArgMin(MxArray a, int? axis = null, bool keepDims = false, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        return ArgReduce(a, axis, keepDims, false);
    }

    private static MxArray ArgReduce(MxArray a, int? axis, bool keepDims, bool max)
    {
        if (axis is null)
        {
            var flat = Flatten(a);
            var r = ArgReduce(flat, 0, false, max);
            return keepDims ? Reshape(r, Enumerable.Repeat(1, a.NDim).ToArray()) : r;
        }
        int ax = Shapes.Axis(axis.Value, a.NDim);
        if (a.ShapeRef[ax] == 0) throw new ArgumentException($"arg{(max ? "max" : "min")} of an empty axis.");
        var kept = (int[])a.ShapeRef.Clone();
        kept[ax] = 1;
        var o = MxArray.Create(kept, DType.UInt32, new ArgReducePrimitive(max, ax), a);
        return keepDims ? o : Squeeze(o, ax);
    }

    /// <summary>The median along <paramref name="axes"/> (NaN propagates: NaN sorts last, and any NaN makes the slice NaN).</summary>
    public static MxArray Median(MxArray a, int[]? axes = null, bool keepDims = false, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        var ax = Shapes.Axes(axes, a.NDim);
        var rest = Enumerable.Range(0, a.NDim).Where(i => !ax.Contains(i)).ToArray();
        var moved = Transpose(a, rest.Concat(ax).ToArray());
        var flat = Reshape(moved, rest.Select(i => a.ShapeRef[i]).Append(-1).ToArray());
        int n = flat.ShapeRef[^1];
        if (n == 0) throw new ArgumentException("median of an empty array.");
        var x = flat.DType.IsInexact() ? flat : AsType(flat, DType.Float32);
        var sorted = Sort(x, -1);
        var lo = Take(sorted, Array((n - 1) / 2), -1);
        var hi = Take(sorted, Array(n / 2), -1);
        var med = Multiply(Add(lo, hi), 0.5);
        med = Where(Any(IsNaN(x), -1), FullLike(med, double.NaN), med);
        if (keepDims)
        {
            var shape = (int[])a.ShapeRef.Clone();
            foreach (int i in ax) shape[i] = 1;
            med = Reshape(med, shape);
        }
        return med;
    }

    // ---------------------------------------------------------------- scans

    private static MxArray Scan(ScanOp op, MxArray a, int? axis, bool reverse, bool inclusive)
    {
        if (axis is null)
        {
            return Scan(op, Flatten(a), 0, reverse, inclusive);
        }
        int ax = Shapes.Axis(axis.Value, a.NDim);
        var dt = op is ScanOp.Sum or ScanOp.Prod ? SumType(a.DType) : a.DType;
        if (op == ScanOp.LogAddExp && !dt.IsInexact()) dt = DType.Float32;
        return MxArray.Create(a.ShapeRef, dt, new ScanPrimitive(op, ax, reverse, inclusive), a);
    }

    public static MxArray Cumsum(MxArray a, int? axis = null, bool reverse = false, bool inclusive = true, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        return Scan(ScanOp.Sum, a, axis, reverse, inclusive);
    }
    public static MxArray Cumprod(MxArray a, int? axis = null, bool reverse = false, bool inclusive = true, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        return Scan(ScanOp.Prod, a, axis, reverse, inclusive);
    }
    public static MxArray Cummax(MxArray a, int? axis = null, bool reverse = false, bool inclusive = true, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        return Scan(ScanOp.Max, a, axis, reverse, inclusive);
    }
    public static MxArray Cummin(MxArray a, int? axis = null, bool reverse = false, bool inclusive = true, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        return Scan(ScanOp.Min, a, axis, reverse, inclusive);
    }
    public static MxArray Logcumsumexp(MxArray a, int? axis = null, bool reverse = false, bool inclusive = true, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        return Scan(ScanOp.LogAddExp, a, axis, reverse, inclusive);
    }

    // ---------------------------------------------------------------- sorting

    public static MxArray Sort(MxArray a, int? axis = -1, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (axis is null) return Sort(Flatten(a), 0, stream);
        int ax = Shapes.Axis(axis.Value, a.NDim);
        return MxArray.Create(a.ShapeRef, a.DType, new SortPrimitive(ax, false), a);
    }

    public static MxArray ArgSort(MxArray a, int? axis = -1, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (axis is null) return ArgSort(Flatten(a), 0, stream);
        int ax = Shapes.Axis(axis.Value, a.NDim);
        return MxArray.Create(a.ShapeRef, DType.UInt32, new SortPrimitive(ax, true), a);
    }

    /// <summary>
    /// The array rearranged along <paramref name="axis"/> so that the element at <paramref name="kth"/> is the one
    /// sorting would put there, none before it larger and none after it smaller (NaN counts as the largest); the
    /// order within each side is unspecified. A negative kth counts from the end.
    /// </summary>
    public static MxArray Partition(MxArray a, int kth, int? axis = -1, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (axis is null) return Partition(Flatten(a), kth, 0, stream);
        int ax = Shapes.Axis(axis.Value, a.NDim);
        int k = CheckKth(a, kth, ax);
        // A full sort satisfies a partition; on the GPU it is the kernel there is.
        if (!PlacedOnCpu) return Sort(a, ax, stream);
        return MxArray.Create(a.ShapeRef, a.DType, new PartitionPrimitive(ax, k, false), a);
    }

    /// <summary>The positions that would partition the array (see <see cref="Partition(MxArray, int, int?, StreamOrDevice?)"/>), uint32.</summary>
    public static MxArray ArgPartition(MxArray a, int kth, int? axis = -1, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (axis is null) return ArgPartition(Flatten(a), kth, 0, stream);
        int ax = Shapes.Axis(axis.Value, a.NDim);
        int k = CheckKth(a, kth, ax);
        if (!PlacedOnCpu) return ArgSort(a, ax, stream);
        return MxArray.Create(a.ShapeRef, DType.UInt32, new PartitionPrimitive(ax, k, true), a);
    }

    private static int CheckKth(MxArray a, int kth, int axis)
    {
        int n = a.ShapeRef[axis];
        if (kth < -n || kth >= n) throw new ArgumentException($"kth {kth} is out of range for an axis of size {n}.");
        return kth < 0 ? kth + n : kth;
    }

    /// <summary>The k largest elements along <paramref name="axis"/>, in ascending order (MLX leaves their order unspecified).</summary>
    public static MxArray TopK(MxArray a, int k, int? axis = -1, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (axis is null) return TopK(Flatten(a), k, 0, stream);
        int ax = Shapes.Axis(axis.Value, a.NDim);
        int n = a.ShapeRef[ax];
        if (k < 0 || k > n) throw new ArgumentException($"topk: k = {k} is out of range for an axis of size {n}.");
        var shape = (int[])a.ShapeRef.Clone();
        shape[ax] = k;
        if (!PlacedOnCpu)
        {
            // On the GPU: the last k of its sort.
            var start = new int[a.NDim];
            start[ax] = n - k;
            return Slice(Sort(a, ax, stream), start, (int[])a.ShapeRef.Clone());
        }
        return MxArray.Create(shape, a.DType, new TopKPrimitive(ax, k, false), a);
    }

    /// <summary>Indices where <paramref name="values"/> would be inserted into sorted 1-D <paramref name="sorted"/> to keep it sorted.</summary>
    public static MxArray SearchSorted(MxArray sorted, MxArray values, bool right = false, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (sorted.NDim != 1) throw new ArgumentException("searchsorted needs a 1-D sorted array.");
        var s = ExpandDims(sorted, Enumerable.Range(0, values.NDim).ToArray());
        var v = ExpandDims(values, -1);
        var hits = right ? LessEqual(s, v) : Less(s, v);
        return AsType(Sum(hits, -1), DType.UInt32);
    }
}
