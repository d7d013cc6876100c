package webhook

import (
	"cmp"
	"container/list"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/preview-generator/preview-generator/internal/pr"
)

// Comment is a comment on a pull request, as an issue_comment delivery
// reported it.
type Comment struct {
	Repo pr.Repo
	// PullRequest is the pull request's number.
	PullRequest int
	// ID is GitHub's comment ID; an edit keeps it.
	ID int64
	// Author is the commenter's login.
	Author string
	// AuthorAssociation is the commenter's relation to the repository:
	// OWNER, MEMBER, COLLABORATOR, CONTRIBUTOR, FIRST_TIME_CONTRIBUTOR,
	// FIRST_TIMER, MANNEQUIN or NONE.
	AuthorAssociation string
	Body              string
	// CreatedAt and UpdatedAt are GitHub's times, in UTC; UpdatedAt
	// moves when the comment is edited.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// comments is a bounded log of pull request comments: at most max
// comments and maxBytes of bodies; the least recently written go first.
type comments struct {
	max, maxBytes int

	mu    sync.RWMutex
	order *list.List              // of *Comment, most recently written at the front
	byID  map[int64]*list.Element // every comment
	byPR  map[string]map[int64]*list.Element
	bytes int // sum of the bodies held
}

func newComments(max, maxBytes int) *comments {
	return &comments{max: max, maxBytes: maxBytes, order: list.New(), byID: map[int64]*list.Element{}, byPR: map[string]map[int64]*list.Element{}}
}

func prKey(repo pr.Repo, number int) string { return fmt.Sprintf("%s#%d", repo.Key(), number) }

// put keeps c, replacing an earlier version of the same comment unless
// that one is newer (deliveries may arrive out of order). It reports
// whether c was kept.
func (l *comments) put(c Comment) bool {
	if len(c.Body) > l.maxBytes {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.byID[c.ID]; ok {
		if el.Value.(*Comment).UpdatedAt.After(c.UpdatedAt) {
			return false
		}
		l.removeLocked(el)
	}
	el := l.order.PushFront(&c)
	l.byID[c.ID] = el
	k := prKey(c.Repo, c.PullRequest)
	if l.byPR[k] == nil {
		l.byPR[k] = map[int64]*list.Element{}
	}
	l.byPR[k][c.ID] = el
	l.bytes += len(c.Body)
	for l.order.Len() > l.max || l.bytes > l.maxBytes {
		l.removeLocked(l.order.Back())
	}
	return true
}

// forget drops the comment with id, and reports whether it was held.
func (l *comments) forget(id int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.byID[id]
	if ok {
		l.removeLocked(el)
	}
	return ok
}

func (l *comments) removeLocked(el *list.Element) {
	c := l.order.Remove(el).(*Comment)
	delete(l.byID, c.ID)
	k := prKey(c.Repo, c.PullRequest)
	delete(l.byPR[k], c.ID)
	if len(l.byPR[k]) == 0 {
		delete(l.byPR, k)
	}
	l.bytes -= len(c.Body)
}

// of returns the comments held for a pull request, oldest first.
func (l *comments) of(repo pr.Repo, number int) []Comment {
	l.mu.RLock()
	out := make([]Comment, 0, len(l.byPR[prKey(repo, number)]))
	for _, el := range l.byPR[prKey(repo, number)] {
		out = append(out, *el.Value.(*Comment))
	}
	l.mu.RUnlock()
	slices.SortFunc(out, func(a, b Comment) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out
}
