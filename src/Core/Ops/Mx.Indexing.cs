namespace Mlx;

public static partial class Mx
{
    internal static int[] SliceShape(int[] shape, int[] start, int[] stop, int[] step)
    {
        var r = new int[shape.Length];
        for (int i = 0; i < shape.Length; i++)
        {
            long n = step[i] > 0 ? ((long)stop[i] - start[i] + step[i] - 1) / step[i] : ((long)stop[i] - start[i] + step[i] + 1) / step[i];
            r[i] = (int)Math.Max(0, n);
        }
        return r;
    }

    /// <summary>Normalizes one Python-style slice (nullable bounds, negative indices, any step) like NumPy's slice.indices.</summary>
    internal static (int Start, int Stop, int Step) NormalizeSlice(int? start, int? stop, int step, int size)
    {
        if (step == 0) throw new ArgumentException("slice step cannot be zero.");
        int lower = step > 0 ? 0 : -1, upper = step > 0 ? size : size - 1;
        int Norm(int? v, int dflt)
        {
            if (v is null) return dflt;
            long x = v.Value < 0 ? (long)v.Value + size : v.Value;
            return (int)Math.Clamp(x, lower, upper);
        }
        return (Norm(start, step > 0 ? 0 : size - 1), Norm(stop, step > 0 ? size : -1), step);
    }

    internal static MxArray SliceRaw(MxArray a, int[] start, int[] stop, int[] step) =>
        MxArray.Create(SliceShape(a.ShapeRef, start, stop, step), a.DType, new SlicePrimitive(start, stop, step), a);

    internal static MxArray SliceUpdateRaw(MxArray a, MxArray update, int[] start, int[] stop, int[] step)
    {
        var sliceShape = SliceShape(a.ShapeRef, start, stop, step);
        var u = BroadcastTo(AsType(update, a.DType), sliceShape);
        return MxArray.Create(a.ShapeRef, a.DType, new SliceUpdatePrimitive(start, stop, step), a, u);
    }

    /// <summary>a[start:stop:strides] per axis (MLX's slice); indices are clamped like Python slices.</summary>
    public static MxArray Slice(MxArray a, int[] start, int[] stop, int[]? strides = null, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        var (s, e, st) = NormalizeAll(a, start, stop, strides);
        return SliceRaw(a, s, e, st);
    }

    /// <summary>A copy of <paramref name="a"/> with <paramref name="update"/> written at a[start:stop:strides].</summary>
    public static MxArray SliceUpdate(MxArray a, MxArray update, int[] start, int[] stop, int[]? strides = null, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        var (s, e, st) = NormalizeAll(a, start, stop, strides);
        return SliceUpdateRaw(a, update, s, e, st);
    }

    private static (int[], int[], int[]) NormalizeAll(MxArray a, int[] start, int[] stop, int[]? strides)
    {
        int nd = a.NDim;
        if (start.Length != nd || stop.Length != nd || (strides is not null && strides.Length != nd))
        {
            throw new ArgumentException($"slice needs start, stop (and strides) for all {nd} axes.");
        }
        var s = new int[nd];
        var e = new int[nd];
        var st = new int[nd];
        for (int i = 0; i < nd; i++)
        {
            (s[i], e[i], st[i]) = NormalizeSlice(start[i], stop[i], strides?[i] ?? 1, a.ShapeRef[i]);
        }
        return (s, e, st);
    }

    /// <summary>Elements of <paramref name="a"/> at <paramref name="indices"/> along <paramref name="axis"/> (negative indices wrap).</summary>
    public static MxArray Take(MxArray a, MxArray indices, int axis, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (!indices.DType.IsInteger()) throw new ArgumentException($"take needs integer indices, not {indices.DType.Name()}.");
        int ax = Shapes.Axis(axis, a.NDim);
        if (a.ShapeRef[ax] == 0 && indices.Size > 0) throw new IndexOutOfRangeException("take from an empty axis.");
        var shape = a.ShapeRef.Take(ax).Concat(indices.ShapeRef).Concat(a.ShapeRef.Skip(ax + 1)).ToArray();
        Shapes.CheckedSize(shape);
        return MxArray.Create(shape, a.DType, new TakePrimitive(ax), a, indices);
    }

    /// <summary>Take over the flattened array.</summary>
    public static MxArray Take(MxArray a, MxArray indices, StreamOrDevice? stream = null) => Take(Flatten(a), indices, 0, stream);

    /// <summary>
    /// The inverse of <see cref="Take(MxArray, MxArray, int, StreamOrDevice?)"/>: slices of <paramref name="updates"/>
    /// (shape a.shape[:axis] + indices.shape + a.shape[axis+1:]) written or combined into a copy of a. With Add,
    /// duplicate indices accumulate.
    /// </summary>
    public static MxArray ScatterAxis(MxArray a, MxArray indices, MxArray updates, int axis, ScatterMode mode = ScatterMode.None, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        int ax = Shapes.Axis(axis, a.NDim);
        var shape = a.ShapeRef.Take(ax).Concat(indices.ShapeRef).Concat(a.ShapeRef.Skip(ax + 1)).ToArray();
        var u = BroadcastTo(AsType(updates, a.DType), shape);
        return MxArray.Create(a.ShapeRef, a.DType, new ScatterAxisPrimitive(ax, mode), a, indices, u);
    }

    public static MxArray ScatterAdd(MxArray a, MxArray indices, MxArray updates, int axis, StreamOrDevice? stream = null) => ScatterAxis(a, indices, updates, axis, ScatterMode.Add, stream);
    public static MxArray ScatterProd(MxArray a, MxArray indices, MxArray updates, int axis, StreamOrDevice? stream = null) => ScatterAxis(a, indices, updates, axis, ScatterMode.Prod, stream);
    public static MxArray ScatterMax(MxArray a, MxArray indices, MxArray updates, int axis, StreamOrDevice? stream = null) => ScatterAxis(a, indices, updates, axis, ScatterMode.Max, stream);
    public static MxArray ScatterMin(MxArray a, MxArray indices, MxArray updates, int axis, StreamOrDevice? stream = null) => ScatterAxis(a, indices, updates, axis, ScatterMode.Min, stream);
    public static MxArray Scatter(MxArray a, MxArray indices, MxArray updates, int axis, StreamOrDevice? stream = null) => ScatterAxis(a, indices, updates, axis, ScatterMode.None, stream);

    internal static MxArray TakeAlongAxisRaw(MxArray a, MxArray indices, int ax)
    {
        var target = (int[])a.ShapeRef.Clone();
        target[ax] = indices.ShapeRef[ax];
        var shape = Shapes.Broadcast(target, indices.ShapeRef);
        var idx = BroadcastTo(indices, shape);
        var aShape = (int[])shape.Clone();
        aShape[ax] = a.ShapeRef[ax];
        var src = BroadcastTo(a, aShape);
        return MxArray.Create(shape, a.DType, new AlongAxisPrimitive(ax, put: false), src, idx);
    }

    public static MxArray TakeAlongAxis(MxArray a, MxArray indices, int? axis, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (axis is null) return TakeAlongAxisRaw(Flatten(a), Flatten(indices), 0);
        if (indices.NDim != a.NDim) throw new ArgumentException("take_along_axis: indices need as many dims as the array.");
        return TakeAlongAxisRaw(a, indices, Shapes.Axis(axis.Value, a.NDim));
    }

    internal static MxArray PutAlongAxisRaw(MxArray a, MxArray indices, MxArray values, int ax, ScatterMode mode)
    {
        var idxShape = (int[])indices.ShapeRef.Clone();
        var u = BroadcastTo(AsType(values, a.DType), idxShape);
        return MxArray.Create(a.ShapeRef, a.DType, new AlongAxisPrimitive(ax, put: true, mode), a, indices, u);
    }

    public static MxArray PutAlongAxis(MxArray a, MxArray indices, MxArray values, int? axis, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (axis is null) return Reshape(PutAlongAxisRaw(Flatten(a), Flatten(indices), Flatten(values), 0, ScatterMode.None), a.ShapeRef);
        int ax = Shapes.Axis(axis.Value, a.NDim);
        if (indices.NDim != a.NDim) throw new ArgumentException("put_along_axis: indices need as many dims as the array.");
        // Indices broadcast against the array off the axis (as NumPy), values against the indices.
        var target = (int[])a.ShapeRef.Clone();
        target[ax] = indices.ShapeRef[ax];
        var shape = Shapes.Broadcast(Shapes.Broadcast(target, indices.ShapeRef), values.ShapeRef);
        for (int d = 0; d < shape.Length; d++)
        {
            if (d != ax && shape[d] != a.ShapeRef[d])
            {
                throw new ArgumentException($"put_along_axis: indices and values of shape {MxArray.FormatShape(shape)} do not fit an array of shape {MxArray.FormatShape(a.ShapeRef)}.");
            }
        }
        return PutAlongAxisRaw(a, BroadcastTo(indices, shape), values, ax, ScatterMode.None);
    }

    /// <summary>The k-th diagonal of axes (axis1, axis2), appended as the last axis.</summary>
    public static MxArray Diagonal(MxArray a, int offset = 0, int axis1 = 0, int axis2 = 1, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        int ax1 = Shapes.Axis(axis1, a.NDim), ax2 = Shapes.Axis(axis2, a.NDim);
        if (ax1 == ax2) throw new ArgumentException("diagonal needs two different axes.");
        int n1 = a.ShapeRef[ax1], n2 = a.ShapeRef[ax2];
        int len = Math.Max(0, offset >= 0 ? Math.Min(n1, n2 - offset) : Math.Min(n1 + offset, n2));
        var rest = Enumerable.Range(0, a.NDim).Where(i => i != ax1 && i != ax2).ToArray();
        var moved = Transpose(a, rest.Append(ax1).Append(ax2).ToArray());
        if (len == 0)
        {
            return Zeros(rest.Select(i => a.ShapeRef[i]).Append(0).ToArray(), a.DType);
        }
        // Flatten the two axes and take every (n2 + 1)-th element from the diagonal's start.
        var flat = Reshape(moved, rest.Select(i => a.ShapeRef[i]).Append(n1 * n2).ToArray());
        int first = offset >= 0 ? offset : -offset * n2;
        var idx = Arange(first, first + len * (n2 + 1), n2 + 1);
        return Take(flat, idx, -1, stream);
    }

    /// <summary>1-D input: a matrix with it on the k-th diagonal; 2-D input: its k-th diagonal.</summary>
    public static MxArray Diag(MxArray a, int k = 0, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (a.NDim == 2) return Diagonal(a, k, 0, 1, stream);
        if (a.NDim != 1) throw new ArgumentException("diag needs a 1-D or 2-D array.");
        int n = (int)a.Size + Math.Abs(k);
        var eye = Eye(n, n, k, DType.Bool);
        var rowVals = k >= 0 ? Pad(a, new[] { (0, k) }) : Pad(a, new[] { (-k, 0) });
        var colVals = k >= 0 ? Pad(a, new[] { (k, 0) }) : Pad(a, new[] { (0, -k) });
        return Where(eye, k >= 0 ? ExpandDims(rowVals, 1) : ExpandDims(colVals, 0), Zeros(new[] { n, n }, a.DType));
    }

    public static MxArray Trace(MxArray a, int offset = 0, int axis1 = 0, int axis2 = 1, DType? dtype = null, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        var d = Sum(Diagonal(a, offset, axis1, axis2), -1);
        return dtype is { } t ? AsType(d, t) : d;
    }
}
