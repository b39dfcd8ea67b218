namespace Mlx;

/// <summary>One index of an indexer: an integer, a range, an index array, a new axis or an ellipsis.</summary>
public readonly struct Idx
{
    private Idx(int kind, Index index, Range range, MxArray? array, int? start = null, int? stop = null, int step = 1)
    {
        Kind = kind;
        IndexValue = index;
        RangeValue = range;
        Array = array;
        Start = start;
        Stop = stop;
        Step = step;
    }

    internal int Kind { get; } // 0 index, 1 range, 2 array, 3 new axis, 4 ellipsis, 5 stepped slice
    internal Index IndexValue { get; }
    internal Range RangeValue { get; }
    internal MxArray? Array { get; }
    internal int? Start { get; }
    internal int? Stop { get; }
    internal int Step { get; }

    public static Idx NewAxis => new(3, default, default, null);

    public static Idx Ellipsis => new(4, default, default, null);

    /// <summary>A Python slice start:stop:step (null bounds as in Python; a negative step walks backwards).</summary>
    public static Idx Slice(int? start = null, int? stop = null, int step = 1) => new(5, default, default, null, start, stop, step);

    public static implicit operator Idx(int i) => new(0, i < 0 ? Index.FromEnd(-i) : Index.FromStart(i), default, null);

    public static implicit operator Idx(Index i) => new(0, i, default, null);

    public static implicit operator Idx(Range r) => new(1, default, r, null);

    public static implicit operator Idx(MxArray a) => new(2, default, default, a);
}

public sealed partial class MxArray
{
    public static implicit operator MxArray(int value) => Mx.Weak(value);

    public static implicit operator MxArray(long value) => Mx.Weak(value);

    public static implicit operator MxArray(float value) => Mx.Weak(value);

    public static implicit operator MxArray(double value) => Mx.Weak(value);

    public static implicit operator MxArray(bool value) => new(System.Array.Empty<int>(), DType.Bool, Mx.Array(value).Buffer, System.Array.Empty<long>(), 0) { IsWeak = true };

    public static MxArray operator +(MxArray a, MxArray b) => Mx.Add(a, b);

    public static MxArray operator -(MxArray a, MxArray b) => Mx.Subtract(a, b);

    public static MxArray operator *(MxArray a, MxArray b) => Mx.Multiply(a, b);

    public static MxArray operator /(MxArray a, MxArray b) => Mx.Divide(a, b);

    /// <summary>Floored remainder, as Python's % and MLX's remainder.</summary>
    public static MxArray operator %(MxArray a, MxArray b) => Mx.Remainder(a, b);

    public static MxArray operator -(MxArray a) => Mx.Negative(a);

    public static MxArray operator &(MxArray a, MxArray b) => a.DType == DType.Bool && b.DType == DType.Bool ? Mx.LogicalAnd(a, b) : Mx.BitwiseAnd(a, b);

    public static MxArray operator |(MxArray a, MxArray b) => a.DType == DType.Bool && b.DType == DType.Bool ? Mx.LogicalOr(a, b) : Mx.BitwiseOr(a, b);

    public static MxArray operator ^(MxArray a, MxArray b) => Mx.BitwiseXor(a, b);

    public static MxArray operator ~(MxArray a) => a.DType == DType.Bool ? Mx.LogicalNot(a) : Mx.BitwiseInvert(a);

    public static MxArray operator <(MxArray a, MxArray b) => Mx.Less(a, b);

    public static MxArray operator >(MxArray a, MxArray b) => Mx.Greater(a, b);

    public static MxArray operator <=(MxArray a, MxArray b) => Mx.LessEqual(a, b);

    public static MxArray operator >=(MxArray a, MxArray b) => Mx.GreaterEqual(a, b);

    /// <summary>
    /// NumPy indexing: integers and ranges give views (a[1..^1, 2], a[.., ^1]); <see cref="Idx.Slice"/> gives
    /// stepped slices (negative steps too); an index array gathers (a[idx]); <see cref="Idx.NewAxis"/> and
    /// <see cref="Idx.Ellipsis"/> work as in NumPy.
    /// </summary>
    [System.Runtime.CompilerServices.IndexerName("Slice")]
    public MxArray this[params Idx[] indices] => Index(indices);

    private MxArray Index(Idx[] indices)
    {
        int consumed = indices.Count(i => i.Kind is 0 or 1 or 2 or 5);
        if (consumed > NDim) throw new IndexOutOfRangeException($"Too many indices ({consumed}) for an array of dimension {NDim}.");
        if (indices.Count(i => i.Kind == 4) > 1) throw new ArgumentException("Only one ellipsis is allowed.");
        var expanded = new List<Idx>();
        foreach (var i in indices)
        {
            if (i.Kind == 4) expanded.AddRange(Enumerable.Repeat((Idx)(..), NDim - consumed));
            else expanded.Add(i);
        }
        while (expanded.Count(i => i.Kind != 3) < NDim) expanded.Add(..);

        int nd = NDim;
        var start = new int[nd];
        var stop = new int[nd];
        var step = new int[nd];
        var finalShape = new List<int>();
        var gathers = new List<(int Axis, MxArray Index)>();
        int axis = 0;
        var squeeze = new List<int>();
        foreach (var i in expanded)
        {
            if (i.Kind == 3)
            {
                continue;
            }
            int size = _shape[axis];
            switch (i.Kind)
            {
                case 0:
                    int k = i.IndexValue.IsFromEnd ? size - i.IndexValue.Value : i.IndexValue.Value;
                    if (k < 0 || k >= size) throw new IndexOutOfRangeException($"Index {(i.IndexValue.IsFromEnd ? "^" : "")}{i.IndexValue.Value} is out of bounds for axis {axis} of size {size}.");
                    (start[axis], stop[axis], step[axis]) = (k, k + 1, 1);
                    squeeze.Add(axis);
                    break;
                case 1:
                    var (off, len) = ClampRange(i.RangeValue, size);
                    (start[axis], stop[axis], step[axis]) = (off, off + len, 1);
                    break;
                case 5:
                    (start[axis], stop[axis], step[axis]) = Mx.NormalizeSlice(i.Start, i.Stop, i.Step, size);
                    break;
                case 2:
                    (start[axis], stop[axis], step[axis]) = (0, size, 1);
                    gathers.Add((axis, i.Array!));
                    break;
            }
            axis++;
        }
        var result = Mx.SliceRaw(this, start, stop, step);
        // MLX (and NumPy): integers count as index arrays once an array is present; when a slice or new axis
        // separates them, the gathered dims go first.
        bool gatherFirst = false;
        if (gathers.Count > 0)
        {
            var arrayLike = expanded.Select((e, p) => (e, p)).Where(t => t.e.Kind is 0 or 2).Select(t => t.p).ToArray();
            gatherFirst = expanded.Skip(arrayLike[0]).Take(arrayLike[^1] - arrayLike[0] + 1).Any(e => e.Kind is 1 or 3 or 5);
        }
        if (gathers.Count > 1 || gatherFirst)
        {
            return GatherMany(result, gathers, expanded, squeeze, gatherFirst);
        }
        // Gathers along the marked axes (applied last to first so earlier axis numbers stay valid).
        int extra = 0;
        foreach (var (ax, idx) in gathers)
        {
            result = Mx.Take(result, idx, ax + extra);
            extra += idx.NDim - 1;
        }
        // Drop integer-indexed axes, then insert new axes where asked.
        var shape = new List<int>();
        int src = 0, gi = 0;
        var rshape = result.ShapeRef;
        int pos = 0;
        axis = 0;
        foreach (var i in expanded)
        {
            if (i.Kind == 3)
            {
                shape.Add(1);
                continue;
            }
            if (i.Kind == 2)
            {
                int n = gathers[gi++].Index.NDim;
                for (int d = 0; d < n; d++) shape.Add(rshape[pos++]);
            }
            else if (squeeze.Contains(axis))
            {
                pos++;
            }
            else
            {
                shape.Add(rshape[pos++]);
            }
            axis++;
            src++;
        }
        return Mx.Reshape(result, shape.ToArray());
    }

    /// <summary>
    /// NumPy's rule for several index arrays: they broadcast together and pick one element per index tuple
    /// (a[[0, 2], [1, 3]] is [a[0, 1], a[2, 3]]). Their dims replace the indexed axes when those (with any integer
    /// indices) are adjacent, and go first when a slice or new axis separates them. The index arrays are read here to check bounds and combine them into flat indices.
    /// </summary>
    private static MxArray GatherMany(MxArray sliced, List<(int Axis, MxArray Index)> gathers, List<Idx> expanded, List<int> squeeze, bool gatherFirst)
    {
        int nd = sliced.NDim;
        int[] gAxes = gathers.Select(g => g.Axis).ToArray();
        int[] bshape = gathers.Aggregate(System.Array.Empty<int>(), (acc, g) => Shapes.Broadcast(acc, g.Index.ShapeRef));
        long count = Shapes.CheckedSize(bshape);
        var flat = new long[count];
        long scale = 1;
        for (int g = gathers.Count - 1; g >= 0; g--)
        {
            var (ax, idx) = gathers[g];
            if (!idx.DType.IsInteger()) throw new ArgumentException($"Index arrays must be integers, not {idx.DType.Name()}.");
            int size = sliced.ShapeRef[ax];
            long[] values = Mx.BroadcastTo(idx, bshape).ToArray<long>();
            for (long e = 0; e < count; e++)
            {
                if (idx.DType == DType.UInt64 && values[e] < 0) throw new IndexOutOfRangeException($"Index {(ulong)values[e]} is out of bounds for axis {ax} of size {size}.");
                long v = values[e] < 0 ? values[e] + size : values[e];
                if (v < 0 || v >= size) throw new IndexOutOfRangeException($"Index {values[e]} is out of bounds for axis {ax} of size {size}.");
                flat[e] += v * scale;
            }
            scale *= size;
        }
        var rest = Enumerable.Range(0, nd).Where(a => !gAxes.Contains(a)).ToArray();
        var moved = Mx.Transpose(sliced, gAxes.Concat(rest).ToArray());
        var merged = Mx.Reshape(moved, new[] { checked((int)Math.Max(scale, 0)) }.Concat(rest.Select(a => sliced.ShapeRef[a])).ToArray());
        var taken = Mx.Take(merged, Mx.Array(flat, bshape), 0); // bshape + rest
        bool adjacent = !gatherFirst;
        int before = adjacent ? rest.Count(a => a < gAxes[0]) : 0;
        if (before > 0)
        {
            int b = bshape.Length;
            var perm = Enumerable.Range(b, before).Concat(Enumerable.Range(0, b)).Concat(Enumerable.Range(b + before, rest.Length - before)).ToArray();
            taken = Mx.Transpose(taken, perm);
        }
        // Final shape: new axes inserted, integer-indexed axes dropped, the broadcast dims once.
        var shape = new List<int>();
        if (!adjacent) shape.AddRange(bshape);
        int axis = 0;
        bool placed = !adjacent;
        foreach (var i in expanded)
        {
            if (i.Kind == 3)
            {
                shape.Add(1);
                continue;
            }
            if (i.Kind == 2)
            {
                if (!placed) shape.AddRange(bshape);
                placed = true;
            }
            else if (!squeeze.Contains(axis))
            {
                shape.Add(sliced.ShapeRef[axis]);
            }
            axis++;
        }
        return Mx.Reshape(taken, shape.ToArray());
    }

    private static (int Offset, int Length) ClampRange(Range r, int size)
    {
        int s = r.Start.IsFromEnd ? size - r.Start.Value : r.Start.Value;
        int e = r.End.IsFromEnd ? size - r.End.Value : r.End.Value;
        s = Math.Clamp(s, 0, size);
        e = Math.Clamp(e, 0, size);
        return (s, Math.Max(0, e - s));
    }
}
